"""Every file the pages need is installed with the package (``pyproject.toml``'s package-data)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]


def matches(path: PurePosixPath, pattern: str) -> bool:
    """As setuptools' globs: ``*`` stays within one folder."""
    parts = PurePosixPath(pattern).parts
    return len(parts) == len(path.parts) and all(fnmatchcase(p, q) for p, q in zip(path.parts, parts, strict=True))


def test_every_web_asset_is_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["service"]
    service = ROOT / "service"
    assets = [PurePosixPath(f.relative_to(service).as_posix()) for f in (service / "web").rglob("*")
              if f.is_file() and f.suffix != ".py" and "__pycache__" not in f.parts]
    assert assets, "no assets found"
    missing = [str(a) for a in assets if not any(matches(a, g) for g in globs)]
    assert missing == [], f"not installed (add a glob to [tool.setuptools.package-data]): {missing}"
