"""The core's table of first-party distributions (install hints) cannot drift from the plugins."""
from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

from hfopt_core import PluginManager
from hfopt_core._catalog import DISTRIBUTIONS

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())


def test_catalog_lists_exactly_the_plugin_folders():
    assert sorted(DISTRIBUTIONS) == FOLDERS


@pytest.mark.parametrize("distribution", FOLDERS)
def test_catalog_entry_matches_the_pyproject_and_the_specs(distribution):
    project = tomllib.loads((ROOT / "plugins" / distribution / "pyproject.toml").read_text())["project"]
    package = distribution.replace("-", "_")
    assert project["name"] == distribution
    assert project["entry-points"]["hfopt"] == {distribution: f"{package}.plugin"}
    assert any(d.startswith("hfopt-core") and "<" in d for d in project["dependencies"]), project["dependencies"]

    manager = PluginManager(environ={"HFOPT_DISABLE_PLUGIN_AUTOLOAD": "1", "HFOPT_STRICT_PLUGINS": "1"})
    manager.register(importlib.import_module(f"{package}.plugin"), name=distribution)
    specs = [s for kind in ("schedule", "optimizer", "accumulator") for s in manager.specs(kind)]
    components = sorted(f"{s.kind}:{n}" for s in specs for n in s.names)
    exports = sorted({e for s in specs for e in s.exports})
    declared_components, declared_exports = DISTRIBUTIONS[distribution]
    assert sorted(declared_components) == components
    assert sorted(declared_exports) == exports
