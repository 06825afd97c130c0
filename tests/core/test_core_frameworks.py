"""hfopt_core.frameworks: which framework / Keras flavour, answered without importing a framework."""
from __future__ import annotations

import subprocess
import sys

import pytest

from hfopt_core import FrameworkError, frameworks, plugin


@pytest.mark.parametrize(("value", "flavour"), [(None, "keras"), ("0", "keras"), ("", "keras"), ("false", "keras"),
                                                ("1", "tf_keras"), ("true", "tf_keras"), ("True", "tf_keras")])
def test_requested_flavour_follows_tensorflows_rule(value, flavour):
    environ = {} if value is None else {"TF_USE_LEGACY_KERAS": value}
    assert frameworks.requested_flavour(environ) == flavour


def test_the_plugin_api_exports_the_same_functions():
    for name in ("keras_flavour", "requested_flavour", "check_keras_flavour", "keras_module", "keras_backend",
                 "flavour_of", "framework_of"):
        assert getattr(plugin, name) is getattr(frameworks, name), name


def test_framework_of_plain_objects():
    assert frameworks.framework_of(None) == "python"
    with pytest.raises(FrameworkError, match="expected a torch.optim.Optimizer or a Keras optimizer"):
        frameworks.framework_of(object())
    assert frameworks.flavour_of(object()) is None


def test_check_keras_flavour_passes_when_the_environment_agrees(monkeypatch):
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")
    frameworks.check_keras_flavour("X", "tf_keras")
    with pytest.raises(FrameworkError, match=r"X is a Keras 3 object .* TF_USE_LEGACY_KERAS is now '1'"):
        frameworks.check_keras_flavour("X", "keras")
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "0")
    with pytest.raises(FrameworkError, match="set TF_USE_LEGACY_KERAS=0 before importing"):
        frameworks.check_keras_flavour("X", "tf_keras")


def test_keras_flavour_is_fixed_by_the_first_call_and_imports_nothing():
    code = ("import os, sys\nos.environ['TF_USE_LEGACY_KERAS'] = '1'\n"
            "from hfopt_core.frameworks import keras_flavour, requested_flavour\n"
            "first = keras_flavour()\nos.environ['TF_USE_LEGACY_KERAS'] = '0'\n"
            "print(first, keras_flavour(), requested_flavour(),"
            " [m for m in ('tensorflow', 'keras', 'tf_keras', 'torch', 'jax') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["tf_keras", "tf_keras", "keras", "[]"]
