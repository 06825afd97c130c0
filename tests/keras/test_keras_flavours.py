"""Run the Keras/TF tests again under tf-keras and under Keras 3's torch (and jax) backend.

The flavour and the backend are fixed when Keras is imported, so each runs in its own pytest
process; tests that do not apply to a flavour skip themselves there.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ["tests/keras/test_keras_schedules.py", "tests/keras/test_keras_fresh_load.py", "tests/keras/test_keras_restore.py",
           "plugins/hfopt-adamweightdecay/tests",
           "plugins/hfopt-warmup/tests", "plugins/hfopt-gradient-accumulator/tests"]
FLAVOURS = {
    "tf_keras": {"TF_USE_LEGACY_KERAS": "1"},
    "keras3-torch": {"KERAS_BACKEND": "torch"},
    "keras3-jax": {"KERAS_BACKEND": "jax"},
}


@pytest.mark.skipif(os.environ.get("HFOPT_KERAS_FLAVOUR_RUN") == "1", reason="already inside a flavour run")
@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_keras_tests_pass_under(flavour):
    if flavour == "keras3-jax" and importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "KERAS_BACKEND")}
    env.update(FLAVOURS[flavour], HFOPT_KERAS_FLAVOUR_RUN="1", PYTEST_ADDOPTS="")
    out = subprocess.run([sys.executable, "-m", "pytest", *TARGETS, "-q", "-p", "no:xdist", "-p", "no:cacheprovider"],
                         cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert " passed" in out.stdout
