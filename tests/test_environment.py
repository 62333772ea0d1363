"""pyproject.toml and environment.yml pin the same packages, and the venv has them.

A reader may set up with pip (``make setup``) or conda (``environment.yml``); both must
give the versions the stored notebook outputs were produced with.
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
CONDA = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
PYPI_TO_CONDA = {"torch": "pytorch"}


def pyproject_requirements() -> dict[str, SpecifierSet]:
    """Name (conda's spelling) -> version specifier, of the package and its extras."""
    lines = [*PROJECT["dependencies"]]
    lines += [
        line
        for extra in ("book", "test")
        for line in PROJECT["optional-dependencies"][extra]
    ]
    found: dict[str, SpecifierSet] = {}
    for requirement in map(Requirement, lines):
        name = canonicalize_name(requirement.name)
        name = PYPI_TO_CONDA.get(name, name)
        assert name not in found, f"{requirement.name} listed twice in pyproject.toml"
        found[name] = requirement.specifier
    return found


def conda_requirements() -> dict[str, SpecifierSet]:
    found: dict[str, SpecifierSet] = {}
    for entry in CONDA:
        if isinstance(entry, dict):  # the pip: section installs the package itself
            assert set(entry) == {"pip"}, (
                f"unexpected section in environment.yml: {entry}"
            )
            continue
        name, spec = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*?)\s*", entry).groups()
        name = canonicalize_name(name)
        assert name not in found, f"{name} listed twice in environment.yml"
        if name not in ("python", "pip"):
            found[name] = SpecifierSet(spec.replace(" ", ""))  # pip-style specifiers
    return found


def test_pyproject_and_environment_pin_the_same_versions():
    pip, conda = pyproject_requirements(), conda_requirements()
    assert sorted(pip) == sorted(conda), "pyproject.toml and environment.yml differ"
    differ = {
        name: (str(pip[name]), str(conda[name]))
        for name in pip
        if pip[name] != conda[name]
    }
    assert not differ, (
        f"version specifiers differ (pyproject, environment.yml): {differ}"
    )
    unbounded = [name for name, spec in pip.items() if not str(spec)]
    assert not unbounded, f"no version specifier in pyproject.toml: {unbounded}"
    python = [e for e in CONDA if isinstance(e, str) and re.match(r"python\b", e)]
    assert len(python) == 1, python
    conda_python = re.sub(r"^python\s*=*\s*", "", python[0]) + ".0"
    assert SpecifierSet(PROJECT["requires-python"]).contains(conda_python)


def test_the_site_stays_on_jupyter_book_1_and_one_theme():
    pip = pyproject_requirements()
    # Jupyter Book 2 ignores _config.yml/_toc.yml and builds nothing: stay on 1.x
    jupyter_book = pip["jupyter-book"]
    assert jupyter_book.contains("1.0.4.post1")
    assert not jupyter_book.contains("2.0.0a1", prereleases=True)
    assert not jupyter_book.contains("2.0.0")
    # jupyter-book's loose bound on the theme pulls in releases with a second search bar
    for theme in ("sphinx-book-theme", "pydata-sphinx-theme"):
        assert [s.operator for s in pip[theme]] == ["=="], f"{theme}: pin it exactly"


@pytest.mark.parametrize("name", sorted(pyproject_requirements()))
def test_installed_versions_match_pyproject(name):
    """A venv built from an older pyproject.toml fails here instead of giving odd
    outputs (the local label of a build, +cpu or +cu130, is not the version)."""
    distribution = {v: k for k, v in PYPI_TO_CONDA.items()}.get(name, name)
    try:
        installed = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{distribution} is not installed; run `make setup`")
    wanted = pyproject_requirements()[name]
    assert wanted.contains(installed, prereleases=True), (
        f"{distribution} {installed} is installed, pyproject.toml wants {wanted}; "
        "run `make setup`"
    )
