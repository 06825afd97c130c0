"""Versions are single-sourced: each distribution's pyproject states its version, code reads it."""
from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

import hfopt_core

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = [ROOT] + sorted(p for p in (ROOT / "plugins").glob("hfopt-*") if (p / "pyproject.toml").exists())


def declared(project: Path) -> tuple[str, str]:
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    return meta["name"], meta["version"]


def test_core_version_is_read_from_the_installed_metadata():
    assert hfopt_core.__version__ == version("hfopt-core") == declared(ROOT)[1]


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_installed_version_is_the_one_its_pyproject_states(project):
    name, stated = declared(project)
    assert version(name) == stated, f"{name}: reinstall it (pip install -e {project.relative_to(ROOT)})"


def test_no_python_module_restates_a_version():
    pattern = re.compile(r"""^\s*__version__\s*=\s*["']""", re.M)
    restated = [str(p.relative_to(ROOT)) for base in (ROOT / "hfopt_core", ROOT / "plugins", ROOT / "templates")
                for p in base.rglob("*.py") if "build" not in p.parts and pattern.search(p.read_text())]
    assert not restated, f"read the version with importlib.metadata.version(...) instead: {restated}"


def test_source_strings_are_split_in_one_place():
    from hfopt_core._registry import split_source

    assert split_source("hfopt-schedule-cosine==1.2.3") == ("hfopt-schedule-cosine", "1.2.3")
    assert split_source("inline") == ("inline", None)
    assert split_source(None) == ("", None)
