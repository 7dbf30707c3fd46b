"""The install contract: locks pin what was tested, and the floors file is pyproject's floors."""

from __future__ import annotations

import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def constraints(path: Path) -> dict[str, Version]:
    """``name==version`` lines of a pip constraints file, by normalised name."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[normalise(requirement.name)] = Version(specifier.version)
    return pins


def normalise(name: str) -> str:
    return name.lower().replace("_", "-")


def pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return [Requirement(r) for r in project["dependencies"] + extras]


def test_floors_file_pins_every_dependency_at_its_floor():
    floors = constraints(ROOT / "locks" / "floors.txt")
    for requirement in pyproject_requirements():
        (specifier,) = [s for s in requirement.specifier if s.operator == ">="]
        floor, pinned = Version(specifier.version), floors[normalise(requirement.name)]
        # The floor's own release: ">=4.8" is tested as the first 4.8 wheels not yanked, 4.8.0.76.
        assert pinned >= floor and pinned.release[: len(floor.release)] == floor.release, (requirement, pinned)
    assert set(floors) >= {normalise(r.name) for r in pyproject_requirements()}


def test_locks_pin_every_dependency_within_its_range():
    for version in ("3.10", "3.11"):
        pins = constraints(ROOT / "locks" / f"py{version}.txt")
        for requirement in pyproject_requirements():
            if requirement.marker and not requirement.marker.evaluate({"python_version": version}):
                continue
            name = normalise(requirement.name)
            assert name in pins, f"locks/py{version}.txt lacks {name}"
            assert requirement.specifier.contains(pins[name], prereleases=True), (version, requirement, pins[name])
