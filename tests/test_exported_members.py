"""The public surface of each package: every name in ``__all__`` exists and is documented."""

from __future__ import annotations

import importlib
import inspect

import pytest


@pytest.mark.parametrize("package", ["matching", "scoring", "scoring.metrics", "fixtures"])
def test_all_names_exist_and_are_documented(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    assert len(set(names)) == len(names), "a name is listed twice"
    for name in names:
        member = getattr(module, name)  # AttributeError: listed but missing
        if inspect.isfunction(member) or inspect.isclass(member):
            assert (member.__doc__ or "").strip(), f"{package}.{name} has no docstring"
