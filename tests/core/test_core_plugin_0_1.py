"""A plugin written against the hfopt-core 0.1 docs installs and passes its own tests.

``plugin_0_1/acme-halflife`` is that plugin, unchanged: it imports ``hfopt_core.formulas`` and
``hfopt_core.schedules`` (the 0.1 paths, now deprecated aliases of ``hfopt_core.plugin``) and
declares ``takes``/``requires`` by hand. It is built and installed with pip (``--target``, no
network, no build isolation) and its tests run in a fresh interpreter, as its author runs them.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent / "plugin_0_1" / "acme-halflife"


def test_a_plugin_written_for_0_1_installs_and_passes_its_tests(tmp_path):
    source, site = tmp_path / "acme-halflife", tmp_path / "site"
    shutil.copytree(PROJECT, source, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "--disable-pip-version-check", "--target", str(site), str(source)],
                   check=True, capture_output=True, text=True, cwd=tmp_path)
    shutil.rmtree(source / "acme_halflife")  # the tests must use the installed copy
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HFOPT_", "PYTEST_"))}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                          "-W", "always::DeprecationWarning", "tests"],
                         capture_output=True, text=True, cwd=source, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "5 passed" in out.stdout, out.stdout
    # the deprecated paths still work, and say where the names live now
    assert "hfopt_core.formulas is deprecated" in out.stdout
    assert "from hfopt_core.plugin import decay_progress, linear_warmup, warmup_then" in out.stdout
    assert "hfopt_core.schedules is deprecated" in out.stdout


def test_the_0_1_paths_are_the_plugin_api_objects():
    import warnings

    import hfopt_core.plugin as api

    for module, names in {"hfopt_core.formulas": ("decay_progress", "linear_warmup", "warmup_then"),
                          "hfopt_core.schedules": ("StepFunction", "as_scheduler", "check_steps", "framework_of",
                                                   "initial_lr", "min_lr_rate_of"),
                          "hfopt_core.ops": ("PY_OPS",), "hfopt_core.lazy": ("lazy_exports",)}.items():
        sys.modules.pop(module, None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            __import__(module)  # no importlib frame between the warning and this line
        alias = sys.modules[module]
        assert [w.category for w in caught] == [DeprecationWarning], module
        assert f"{module} is deprecated" in str(caught[0].message)
        assert caught[0].filename == __file__  # points at the importing line
        for name in names:
            assert getattr(alias, name) is getattr(api, name), (module, name)
