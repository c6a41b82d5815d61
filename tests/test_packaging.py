"""What an installed copy (a wheel, the Docker image) needs besides the Python modules."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_data_file_of_the_packages_ships_in_the_wheel() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    shipped: set[Path] = set()
    for package, patterns in setuptools["package-data"].items():
        for pattern in patterns:
            shipped.update((ROOT / package).glob(pattern))
    data_files = {
        path
        for package in ("tracker", "connectors", "reports")
        for path in (ROOT / package).rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts
    }
    assert data_files, "the packages hold no data files at all: is the test looking in the right place?"
    assert sorted(data_files - shipped) == []
