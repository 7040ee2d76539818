"""requirements.lock pins every runtime dependency of pyproject.toml within its range."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def _locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def _project() -> dict[str, object]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return dict(tomllib.load(file)["project"])


def test_lock_satisfies_the_ranges() -> None:
    pins = _locked()
    for spec in _project()["dependencies"]:  # type: ignore[attr-defined]
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock (run make lock)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock has {name}=={pins[name]}, pyproject wants {requirement.specifier}"
        )


def test_every_dependency_has_an_upper_bound() -> None:
    project = _project()
    specs = list(project["dependencies"]) + list(  # type: ignore[call-overload]
        project["optional-dependencies"]["dev"]  # type: ignore[index]
    )
    for spec in specs:
        requirement = Requirement(spec)
        assert any(s.operator in ("<", "<=", "==", "~=") for s in requirement.specifier), spec


def test_aiohttp_excludes_the_request_smuggling_versions() -> None:
    aiohttp = next(
        Requirement(s)
        for s in _project()["dependencies"]  # type: ignore[attr-defined]
        if s.startswith("aiohttp")
    )
    assert not aiohttp.specifier.contains("3.12.13")
    assert aiohttp.specifier.contains("3.12.14")
