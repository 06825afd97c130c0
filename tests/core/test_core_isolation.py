"""Process-level checks: discovery is framework-free, and core + one schedule plugin work without torch."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

DISCOVER_EVERYTHING = """
import json, sys
import hfopt_core
from hfopt_core import get_manager, get_scheduler
plugins = hfopt_core.list_plugins()
manager = get_manager()
names = {kind: manager.names(kind) for kind in ("schedule", "optimizer", "accumulator")}
exports = manager.exports()
fn = get_scheduler("cosine", None, num_warmup_steps=2, num_training_steps=10)
fn(5)
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "tensorflow", "keras", "tf_keras", "numpy"})
print(json.dumps({"heavy": heavy, "plugins": [[p.name, p.status] for p in plugins], "names": names}))
"""


def test_core_and_discovery_of_every_plugin_import_no_framework():
    env = {k: v for k, v in os.environ.items() if not k.startswith("HFOPT_")}
    out = subprocess.run([sys.executable, "-c", DISCOVER_EVERYTHING], capture_output=True, text=True, check=True,
                         env=env)
    result = json.loads(out.stdout)
    assert result["heavy"] == []
    assert all(status == "ok" for _, status in result["plugins"]), result["plugins"]
    assert len(result["names"]["schedule"]) >= 12


@pytest.mark.slow
def test_fresh_venv_with_core_and_one_schedule_plugin_without_torch(tmp_path):
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                    str(ROOT), str(ROOT / "plugins" / "hfopt-schedule-linear")], check=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    *map(str, wheels.glob("*.whl"))], check=True)
    script = """
import json, sys, hfopt_core
from hfopt_core import FrameworkError, get_scheduler
result = {"torch_importable": True}
try:
    import torch
except ImportError:
    result["torch_importable"] = False
fn = get_scheduler("linear", None, num_warmup_steps=2, num_training_steps=10)
result["values"] = [fn(t) for t in (0, 1, 2, 6, 10)]
try:
    get_scheduler("cosine", None, 2, 10)
except ValueError as e:
    result["unknown"] = str(e)
try:
    from hfopt_core import AdamW
except ImportError as e:
    result["missing"] = str(e)
result["plugins"] = [[p.distribution, p.status] for p in hfopt_core.list_plugins()]
print(json.dumps(result))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HFOPT_", "PYTHON"))}
    out = subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True, cwd=tmp_path,
                         env=env)
    result = json.loads(out.stdout)
    assert result["torch_importable"] is False
    assert result["values"] == [0.0, 0.5, 1.0, 0.5, 0.0]
    assert "pip install hfopt-schedule-cosine" in result["unknown"]
    assert "pip install hfopt-adamw" in result["missing"]
    assert result["plugins"] == [["hfopt-schedule-linear", "ok"]]
    listing = subprocess.run([str(venv / "bin" / "hfopt"), "list"], capture_output=True, text=True, check=True,
                             env=env).stdout
    assert "hfopt-schedule-linear" in listing and "schedule:linear" in listing
