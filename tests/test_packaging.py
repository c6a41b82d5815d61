"""What an installed copy (a wheel, the Docker image) needs besides the Python modules."""

from __future__ import annotations

import re
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


def _pins(name: str) -> dict[str, str]:
    """A lock file's ``name==version`` lines by normalized name, checking the format as it goes."""
    lines = [
        line
        for line in (ROOT / name).read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[A-Za-z0-9_.+!-]+", line) for line in lines), name
    assert lines == sorted(lines, key=str.lower), f"{name} is not sorted"
    pins = {_normalized(line.partition("==")[0]): line for line in lines}
    assert len(pins) == len(lines), f"{name} pins a package twice"
    return pins


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {_normalized(re.split(r"[<>=!~\[;\s]", item, maxsplit=1)[0]) for item in requirements}


def test_the_runtime_and_dev_locks_are_exact_sorted_and_apart() -> None:
    runtime, dev = _pins("requirements.lock"), _pins("requirements-dev.lock")
    assert set(runtime) & set(dev) == set()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    # The runtime is the core plus what the built-in connectors and PostgreSQL need; the tools are for
    # development.
    needed = _requirement_names(project["dependencies"])
    for extra in ("postgres", "x", "reddit", "bluesky"):
        needed |= _requirement_names(extras[extra])
    assert needed - set(runtime) == set()
    tools = _requirement_names([item for item in extras["dev"] if not item.startswith("mention-tracker")])
    assert tools <= set(dev)
    assert "matplotlib" not in runtime | dev  # the charts are inline SVG


def test_make_run_and_the_image_install_the_runtime_lock_only() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    runtime_rule = makefile.split("$(VENV)/.runtime:", 1)[1].split("\n\n", 1)[0]
    assert "requirements.lock" in runtime_rule and "requirements-dev" not in runtime_rule
    assert re.search(r"^run: install$", makefile, re.M)
    assert re.search(r"^(lint|pytest): setup$", makefile, re.M)
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "-r requirements.lock" in dockerfile
    assert "requirements-dev" not in dockerfile
    assert "HEALTHCHECK" in dockerfile and "CMD tracker status" in dockerfile
