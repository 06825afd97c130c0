"""Every plugin in this repository passes the conformance kit third parties use.

A plugin folder with tests of its own (``plugins/<dist>/tests``) runs the kit there; the others here.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from hfopt_core.testing import check_plugin

ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
EXTRA = {"polynomial": {"lr_init": 1.0}, "cosine_with_min_lr": {"min_lr_rate": 0.1},
         "cosine_warmup_with_min_lr": {"min_lr_rate": 0.1}, "warmup_stable_decay": {"num_decay_steps": 4}}


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_plugin_conforms(distribution):
    """Run the kit here, unless the plugin's own tests run it (checked, so no plugin escapes it)."""
    tests = ROOT / "plugins" / distribution / "tests"
    if tests.is_dir():
        runs_kit = [f.name for f in tests.glob("test_*.py") if "check_plugin(" in f.read_text()]
        assert runs_kit, f"plugins/{distribution}/tests has no test calling hfopt_core.testing.check_plugin"
        return
    module = distribution.replace("-", "_") + ".plugin"
    specs = check_plugin(module, distribution=distribution, schedule_kwargs=EXTRA)
    assert all(spec.source == distribution for spec in specs)


def test_kit_reports_every_problem(tmp_path, monkeypatch):
    (tmp_path / "bad_plugin.py").write_text(
        "import torch\n"
        "from hfopt_core import ScheduleSpec, hookimpl\n"
        "@hookimpl\n"
        "def hfopt_schedules():\n"
        "    yield ScheduleSpec(name='bad', factory='bad_plugin:missing', frameworks=('python',))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(AssertionError) as info:
        check_plugin("bad_plugin")
    message = str(info.value)
    assert "imports torch" in message and "bad_plugin:missing does not resolve" in message


def test_kit_names_the_module_that_pulls_in_a_framework(tmp_path, monkeypatch):
    package = tmp_path / "eager_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from .optim import Optimizer\n")
    (package / "optim.py").write_text("import torch\n\nclass Optimizer:\n    pass\n")
    (package / "plugin.py").write_text(
        "from hfopt_core.plugin import OptimizerSpec, hookimpl\n"
        "@hookimpl\n"
        "def hfopt_optimizers():\n"
        "    yield OptimizerSpec(name='eager', factory='eager_pkg:Optimizer', frameworks=('torch',))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    with pytest.raises(AssertionError) as info:
        check_plugin("eager_pkg.plugin")
    message = str(info.value)
    assert "imports torch, pulled in by module eager_pkg.optim" in message
    assert str(package / "optim.py") in message and "line 1" in message
    assert "lazy_exports" in message
