"""The codebase's own checks: lint (ruff), types (mypy) and the import layers (import-linter).

They run in the test suite so that the README's one test command checks everything CI checks.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool
    command = [str(exe) if exe.exists() else (shutil.which(tool) or tool), *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy() -> None:
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_layers() -> None:
    # STYLE.md: service -> scoring -> matching; production code never imports fixtures.
    result = run("lint-imports")
    assert result.returncode == 0, result.stdout + result.stderr
