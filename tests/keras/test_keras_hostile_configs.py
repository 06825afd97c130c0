"""Hostile Keras configs beyond the tampered-file test: numbers past what Keras can hold are refused
when the object is rebuilt (not at the first step), and a ``WarmUp`` whose nested schedule names
modules, functions or lambdas imports and calls nothing (Keras 3 and tf-keras, fresh processes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_env import FLAVOUR, keras

from hfopt_core import get_scheduler

FLOAT32_MAX = float(np.finfo(np.float32).max)


def warmup_config(**changes):
    from hfopt_warmup import WarmUp

    decay = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    return {**WarmUp(0.1, decay, warmup_steps=2).get_config(), **changes}


def test_warmup_from_config_refuses_a_step_count_keras_cannot_hold():
    from hfopt_warmup import WarmUp

    with pytest.raises(ValueError, match=r"warmup_steps must be a number of steps <= 9223372036854775807, got 10+$"):
        WarmUp.from_config(warmup_config(warmup_steps=10**30))
    at_limit = WarmUp.from_config(warmup_config(warmup_steps=2**63 - 1))
    assert float(at_limit(4)) == pytest.approx(0.1 * 4 / 2**63, rel=1e-6)  # still warming up


def test_warmup_from_config_refuses_a_learning_rate_float32_cannot_hold():
    from hfopt_warmup import WarmUp

    with pytest.raises(ValueError, match="initial_learning_rate must be a number <= 3.4028234663852886e"):
        WarmUp.from_config(warmup_config(initial_learning_rate=1e308))
    assert float(WarmUp.from_config(warmup_config(initial_learning_rate=1e38))(1)) == pytest.approx(0.5e38, rel=1e-6)


def test_get_warmup_schedule_refuses_a_step_count_keras_cannot_hold():
    from hfopt_warmup import get_warmup_schedule

    with pytest.raises(ValueError, match="num_training_steps must be a number of steps <= 9223372036854775807"):
        get_warmup_schedule(keras.optimizers.Adam(0.01), 2, num_training_steps=10**30)
    with pytest.raises(ValueError, match="num_warmup_steps must be a number of steps <= 9223372036854775807"):
        get_warmup_schedule(keras.optimizers.Adam(0.01), 10**30)


def test_a_registry_schedule_config_refuses_a_learning_rate_float32_cannot_hold():
    schedule = get_scheduler("cosine", keras.optimizers.Adam(learning_rate=0.01), num_warmup_steps=2,
                             num_training_steps=10)
    config = schedule.get_config()
    with pytest.raises(ValueError, match="initial_learning_rate must be a learning rate <= 3.4028234663852886e"):
        type(schedule).from_config({**config, "initial_learning_rate": 1e308})
    restored = type(schedule).from_config({**config, "initial_learning_rate": 1e30})
    assert np.isfinite(float(restored(5)))


#: nested decay_schedule_fn configs of a tampered WarmUp: none may import or call anything
NESTED = {
    "module-class": {"module": "g_evil_module", "class_name": "Evil", "config": {}, "registered_name": None},
    "module-function": {"module": "g_evil_module", "class_name": "function", "config": "run",
                        "registered_name": "run"},
    "builtins-print": {"module": "builtins", "class_name": "function", "config": "print", "registered_name": None},
    "lambda": {"module": "builtins", "class_name": "__lambda__",
               "config": {"code": "print('LAMBDA-RAN')", "defaults": None, "closure": None}, "registered_name": None},
    "legacy-name": {"class_name": "g_evil_module>Evil", "config": {}},
    "this": {"module": "this", "class_name": "X", "config": {}, "registered_name": None},
    "step-schedule-module": {"module": "hfopt_core._keras", "class_name": "StepSchedule", "registered_name":
                             "hfopt>StepSchedule", "config": {"schedule": {"name": "g_evil_module:run"},
                                                             "initial_learning_rate": 0.1, "name": None}},
}

EVIL = """
import pathlib
pathlib.Path(__file__).with_name("imported.marker").write_text("imported")
class Evil:
    def __init__(self, *a, **k):
        pathlib.Path(__file__).with_name("called.marker").write_text("called")
    def __call__(self, step):
        return 0.5
def run(*args, **kwargs):
    pathlib.Path(__file__).with_name("called.marker").write_text("called")
    return 0.5
"""

LOAD = """
import json, sys
import {flavour} as keras
from hfopt_warmup import WarmUp
results = {{}}
for name, nested in json.loads(sys.argv[1]).items():
    config = {{"initial_learning_rate": 0.1, "decay_schedule_fn": nested, "warmup_steps": 2, "power": 1.0,
              "name": None}}
    try:
        results[name] = {{"loaded": True, "at_5": float(WarmUp.from_config(config)(5))}}
    except Exception as exc:
        results[name] = {{"loaded": False, "error": type(exc).__name__, "message": str(exc)[-300:]}}
results["modules"] = sorted(m for m in ("this", "g_evil_module") if m in sys.modules)
print("RESULT " + json.dumps(results))
"""


@pytest.mark.parametrize("flavour", ["keras", "tf_keras"])
def test_a_warmup_with_a_hostile_nested_schedule_imports_and_calls_nothing(tmp_path, flavour):
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "g_evil_module.py").write_text(EVIL)
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND",)}
    env.update(TF_USE_LEGACY_KERAS="1" if flavour == "tf_keras" else "0",
               PYTHONPATH=os.pathsep.join([str(evil), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", LOAD.format(flavour=flavour), json.dumps(NESTED)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.split("RESULT ", 1)[1])
    for name in NESTED:
        assert not results[name]["loaded"], (name, results[name])
    assert results["modules"] == []
    assert "LAMBDA-RAN" not in out.stdout + out.stderr
    assert not list(tmp_path.rglob("*.marker"))


def test_a_saved_spec_is_bounded_like_a_spec_file():
    from hfopt_core.specs import MAX_SPEC_DEPTH, MAX_SPEC_VALUES

    schedule = get_scheduler("cosine", keras.optimizers.Adam(learning_rate=0.01), num_warmup_steps=2,
                             num_training_steps=10)
    config = schedule.get_config()
    deep = 0.5
    for _ in range(5000):  # was a RecursionError
        deep = [deep]
    with pytest.raises(ValueError, match=f"a saved schedule spec is too large.*nested at most {MAX_SPEC_DEPTH} deep"):
        type(schedule).from_config({**config, "schedule": {**config["schedule"], "num_cycles": deep}})
    many = [{"name": "constant", "steps": 1}] * (MAX_SPEC_VALUES // 2)  # took 30 s for 200,000 phases
    with pytest.raises(ValueError, match=f"at most {MAX_SPEC_VALUES} values"):
        type(schedule).from_config({**config, "schedule": many})
    phases = [{"name": "constant", "steps": 5}, {"name": "constant_with_warmup", "num_warmup_steps": 4, "steps": 5}]
    restored = type(schedule).from_config({**config, "schedule": phases})  # an ordinary composite still loads
    assert [float(restored(step)) for step in (2, 7)] == pytest.approx([0.01, 0.01 * 2 / 4])


def test_a_saved_integer_beyond_float_range_is_a_value_error():
    schedule = get_scheduler("cosine", keras.optimizers.Adam(learning_rate=0.01), num_warmup_steps=2,
                             num_training_steps=10)
    config = schedule.get_config()
    with pytest.raises(ValueError, match=r"a saved schedule spec holds an integer too large for a float \(401 digits\)"):
        type(schedule).from_config({**config, "schedule": {**config["schedule"], "num_training_steps": 10**400}})
