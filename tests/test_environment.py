"""pyproject.toml and environment.yml pin the same packages, and the venv has them.

A reader may set up with pip (``make setup``) or conda (``environment.yml``); both must
give the versions the stored notebook outputs were produced with.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = ("book", "test")
PYPI_TO_CONDA = {"torch": "pytorch"}
CONDA_ONLY = {"python", "pip"}


def normalize(name: str) -> str:
    return canonicalize_name(name)  # case, "_" and "." all become "-"


def pyproject_requirements() -> dict[str, SpecifierSet]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in EXTRAS:
        lines += project["optional-dependencies"][extra]
    found: dict[str, SpecifierSet] = {}
    for line in lines:
        requirement = Requirement(line)
        name = normalize(requirement.name)
        name = PYPI_TO_CONDA.get(name, name)
        assert name not in found, f"{requirement.name} listed twice in pyproject.toml"
        found[name] = requirement.specifier
    return found


def conda_requirements() -> dict[str, SpecifierSet]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    found: dict[str, SpecifierSet] = {}
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):  # the pip: section installs the package itself
            assert set(entry) == {"pip"}, f"unexpected section in environment.yml: {entry}"
            continue
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", str(entry))
        assert match, f"cannot parse environment.yml entry {entry!r}"
        name, spec = normalize(match.group(1)), match.group(2).replace(" ", "")
        assert name not in found, f"{name} listed twice in environment.yml"
        if name in CONDA_ONLY:
            continue
        try:
            found[name] = SpecifierSet(spec)
        except Exception:  # e.g. conda's fuzzy "=1.2", which pip cannot express
            pytest.fail(f"environment.yml: {entry!r} is not a pip-style version specifier")
    return found


def test_pyproject_and_environment_list_the_same_packages():
    pip, conda = pyproject_requirements(), conda_requirements()
    only_pip = sorted(set(pip) - set(conda))
    only_conda = sorted(set(conda) - set(pip))
    assert not only_pip, f"in pyproject.toml but not environment.yml: {only_pip}"
    assert not only_conda, f"in environment.yml but not pyproject.toml: {only_conda}"


def test_pyproject_and_environment_use_the_same_versions():
    pip, conda = pyproject_requirements(), conda_requirements()
    differ = {name: (str(pip[name]), str(conda[name])) for name in pip.keys() & conda.keys() if pip[name] != conda[name]}
    assert not differ, f"version specifiers differ (pyproject, environment.yml): {differ}"


def test_every_package_is_bounded():
    for name, spec in pyproject_requirements().items():
        assert str(spec), f"{name} has no version specifier in pyproject.toml"


def test_key_pins():
    pip = pyproject_requirements()
    assert pip["pytorch"] == SpecifierSet("==2.14.1")
    assert pip["torchvision"] == SpecifierSet("==0.29.2")
    # Jupyter Book 2 ignores _config.yml/_toc.yml and builds nothing: stay on 1.x
    jb = pip["jupyter-book"]
    assert any(s.operator == "<" and s.version == "2" for s in jb), f"jupyter-book must be bounded <2, got {jb}"
    assert not jb.contains("2.0.0", prereleases=True) and not jb.contains("2.0.0a1", prereleases=True)
    assert jb.contains("1.0.4.post1")
    # jupyter-book's loose bound on the theme pulls in releases that add a second search bar
    for theme in ("sphinx-book-theme", "pydata-sphinx-theme"):
        assert [s.operator for s in pip[theme]] == ["=="], f"{theme} must be pinned exactly, got {pip[theme]}"


def test_python_version_agrees():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = [e for e in environment["dependencies"] if isinstance(e, str) and re.match(r"python\b", e)]
    assert len(python) == 1, python
    conda_python = re.sub(r"^python\s*=*\s*", "", python[0])
    requires = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert requires.contains(conda_python + ".0"), (conda_python, str(requires))


@pytest.mark.parametrize("name", sorted(pyproject_requirements()))
def test_installed_versions_match_pyproject(name):
    """A venv built from an older pyproject.toml fails here instead of giving odd outputs."""
    specifier = pyproject_requirements()[name]
    distribution = {v: k for k, v in PYPI_TO_CONDA.items()}.get(name, name)
    try:
        installed = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{distribution} is not installed; run `make setup`")
    assert specifier.contains(installed, prereleases=True), (
        f"{distribution} {installed} is installed but pyproject.toml wants {specifier}; run `make setup`"
    )


def test_installed_torch_and_torchvision_are_the_pinned_ones():
    import torch
    import torchvision

    # the local label (+cpu, +cu130) is the build, not the version
    assert torch.__version__.split("+")[0] == "2.14.1"
    assert torchvision.__version__.split("+")[0] == "0.29.2"
