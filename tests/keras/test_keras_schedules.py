"""Every closed-form registry schedule on a Keras optimizer: transformers' numbers, in a jit graph, serializable."""
from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from keras_env import BACKEND, FLAVOUR, ON_TF, keras, needs_tf, to_numpy

import hfopt_core
from hfopt_core import FrameworkError, get_scheduler

ROOT = Path(__file__).resolve().parents[2]
LR = 2e-3
STEPS = 24
# name -> (num_warmup_steps, num_training_steps, scheduler_specific_kwargs)
SCHEDULES = {
    "constant": (None, None, {}),
    "constant_with_warmup": (4, None, {}),
    "linear": (4, 20, {}),
    "cosine": (4, 20, {"num_cycles": 0.5}),
    "cosine_with_restarts": (4, 20, {"num_cycles": 3}),
    "polynomial": (4, 20, {"lr_end": 1e-5, "power": 2.0}),
    "inverse_sqrt": (4, None, {}),  # transformers 4.57.6 ignores timescale: tested below
    "cosine_with_min_lr": (4, 20, {"min_lr": 2e-4}),
    "cosine_warmup_with_min_lr": (4, 20, {"min_lr_rate": 0.1, "warmup_lr_rate": 0.05}),
    "warmup_stable_decay": (4, 20, {"num_decay_steps": 8, "decay_type": "1-sqrt", "min_lr_ratio": 0.05}),
}


def transformers_lrs(name, warmup, total, kwargs):
    """The oracle: transformers 4.57.6's torch scheduler, lr after 0..STEPS-1 steps."""
    import torch
    from transformers import get_scheduler as hf_get_scheduler

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    scheduler = hf_get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total,
                                 scheduler_specific_kwargs=dict(kwargs))
    lrs = []
    for _ in range(STEPS):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(lrs)


def evaluate(schedule, steps):
    """The schedule over ``steps`` in one call: jit-compiled on TensorFlow (XLA) and jax, eager on torch."""
    if ON_TF:
        import tensorflow as tf

        return to_numpy(tf.function(schedule, jit_compile=True)(tf.constant(steps, tf.int64)))
    if BACKEND == "jax":
        import jax

        return np.asarray(jax.jit(schedule)(np.array(steps, np.int32)))
    return schedule(keras.ops.convert_to_tensor(np.array(steps, np.int64))).detach().cpu().numpy()


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_transformers_in_a_jit_graph(name):
    warmup, total, kwargs = SCHEDULES[name]
    optimizer = keras.optimizers.Adam(learning_rate=LR)
    schedule = get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=total,
                             scheduler_specific_kwargs=dict(kwargs))
    assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
    installed = optimizer._hyper["learning_rate"] if hasattr(optimizer, "_hyper") else optimizer._learning_rate
    assert installed is schedule
    got = evaluate(schedule, list(range(STEPS)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, transformers_lrs(name, warmup, total, kwargs), rtol=1e-6, atol=1e-12)


def test_no_warning_on_this_backend():
    """Every closed-form schedule built, evaluated and trained with emits no warning (jax without x64 included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, (warmup, total, kwargs) in SCHEDULES.items():
            schedule = get_scheduler(name, keras.optimizers.Adam(learning_rate=LR), num_warmup_steps=warmup,
                                     num_training_steps=total, scheduler_specific_kwargs=dict(kwargs))
            assert [float(schedule(step)) for step in (0, 5, 23)][1] > 0
            evaluate(schedule, [0, 5, 23])
        optimizer = keras.optimizers.Adam(learning_rate=LR)
        get_scheduler("cosine", optimizer, num_warmup_steps=1, num_training_steps=4)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer=optimizer, loss="mse")
        model.fit(np.ones((8, 3), np.float32), np.zeros((8, 1), np.float32), batch_size=4, epochs=1, verbose=0)


@pytest.mark.skipif(BACKEND != "torch", reason="the keras.ops namespace computes the torch backend's schedules")
def test_keras_ops_namespace_keeps_float64():
    from hfopt_core._keras import KerasOps

    ops = KerasOps()
    x = ops.to_float(np.arange(5))
    results = {"to_float": x, "where": ops.where(x < 2, x, 1.0), "minimum": ops.minimum(x, 1.0),
               "maximum": ops.maximum(x, 1.0), "cos": ops.cos(x), "sqrt": ops.sqrt(x), "floor": ops.floor(x / 3),
               "mod": ops.mod(x, 3.0), "pow": ops.pow(x, 2.0)}
    assert {name: str(value.dtype) for name, value in results.items()} == {name: "torch.float64" for name in results}


X64_CHECK = """
import json, warnings
warnings.simplefilter("error")
import numpy as np, jax, keras
from hfopt_core import get_scheduler
schedules = json.loads(__import__("sys").argv[1])
worst = 0.0
for name, (warmup, total, kwargs) in schedules.items():
    schedule = get_scheduler(name, keras.optimizers.Adam(learning_rate=2e-3), warmup, total, kwargs)
    plain = get_scheduler(name, None, warmup, total, dict(kwargs, **({"lr_init": 2e-3} if name == "polynomial" else {})))
    assert not schedule._on_host
    got = np.asarray(jax.jit(schedule)(np.arange(24)))
    want = np.array([2e-3 * plain(t) for t in range(24)])
    worst = max(worst, float(np.max(np.abs(got - want) / np.maximum(want, 1e-30))))
print("WORST", worst)
"""


@pytest.mark.skipif(BACKEND != "jax", reason="jax backend only")
def test_jax_with_x64_computes_in_float64_with_no_warning():
    import json
    import os

    env = {**os.environ, "JAX_ENABLE_X64": "1"}
    schedules = {n: v for n, v in SCHEDULES.items() if n != "cosine_with_min_lr"}  # min_lr needs the optimizer lr
    out = subprocess.run([sys.executable, "-c", X64_CHECK, json.dumps(schedules)], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert float(out.stdout.split("WORST ")[1]) < 1e-7  # float32 rounding of a float64 computation


def test_inverse_sqrt_honours_timescale_as_transformers_5_does():
    schedule = get_scheduler("inverse_sqrt", keras.optimizers.Adam(learning_rate=LR), num_warmup_steps=4,
                             scheduler_specific_kwargs={"timescale": 7})
    want = [LR * (t / 4 if t < 4 else 1 / np.sqrt((t + 7 - 4) / 7)) for t in range(STEPS)]
    np.testing.assert_allclose(evaluate(schedule, list(range(STEPS))), want, rtol=1e-6)


@pytest.mark.parametrize("name", ["cosine", "polynomial", "warmup_stable_decay"])
def test_schedule_config_round_trips_without_custom_objects(name):
    warmup, total, kwargs = SCHEDULES[name]
    schedule = get_scheduler(name, keras.optimizers.Adam(learning_rate=LR), num_warmup_steps=warmup,
                             num_training_steps=total, scheduler_specific_kwargs=dict(kwargs))
    config = keras.optimizers.schedules.serialize(schedule)
    assert config["config"]["initial_learning_rate"] == LR
    restored = keras.optimizers.schedules.deserialize(config)
    assert type(restored) is type(schedule) and restored.get_config() == schedule.get_config()
    steps = list(range(STEPS))
    np.testing.assert_array_equal(evaluate(restored, steps), evaluate(schedule, steps))


def test_third_party_schedule_gets_its_keras_form_with_no_keras_code(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "templates" / "hfopt-plugin-template"))
    from my_hfopt_plugin.schedule import get_exponential_schedule

    plain = get_exponential_schedule(None, 3, half_life=5.0)
    schedule = get_exponential_schedule(keras.optimizers.Adam(learning_rate=LR), 3, half_life=5.0)
    want = np.array([LR * plain(s) for s in range(STEPS)])
    np.testing.assert_allclose(evaluate(schedule, list(range(STEPS))), want, rtol=1e-6)


@pytest.mark.parametrize("name", ["reduce_lr_on_plateau", "greedy"])
def test_metric_driven_schedules_name_the_keras_alternative(name):
    with pytest.raises(FrameworkError, match="ReduceLROnPlateau"):
        get_scheduler(name, keras.optimizers.Adam(learning_rate=LR))


def test_keras_schedule_follows_iterations_not_last_epoch():
    with pytest.raises(ValueError, match="last_epoch=3"):
        hfopt_core.get_linear_schedule_with_warmup(keras.optimizers.Adam(learning_rate=LR), 2, 10, last_epoch=3)


def test_an_optimizer_that_already_has_a_schedule_is_refused():
    decay = keras.optimizers.schedules.ExponentialDecay(LR, 10, 0.5)
    with pytest.raises(ValueError, match="already has a learning-rate schedule"):
        get_scheduler("linear", keras.optimizers.Adam(learning_rate=decay), num_warmup_steps=1, num_training_steps=5)


def test_training_reads_the_scheduled_learning_rate():
    optimizer = keras.optimizers.Adam(learning_rate=LR)
    get_scheduler("linear", optimizer, num_warmup_steps=2, num_training_steps=4)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    x, y = np.ones((8, 3), np.float32), np.zeros((8, 1), np.float32)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # two steps: lr 0, then LR / 2
    assert int(to_numpy(optimizer.iterations)) == 2
    # Keras 3 reports the lr at the current step (2: warmup done), tf-keras the lr of the last step (1)
    want = LR / 2 if FLAVOUR == "tf_keras" else LR
    assert float(to_numpy(optimizer.learning_rate)) == pytest.approx(want, rel=1e-6)


@pytest.mark.skipif(FLAVOUR != "tf_keras", reason="tf-keras only: its legacy optimizers")
def test_tf_keras_legacy_optimizer_gets_the_schedule_too():
    optimizer = keras.optimizers.legacy.Adam(learning_rate=LR)
    schedule = get_scheduler("linear", optimizer, num_warmup_steps=2, num_training_steps=4)
    assert optimizer._get_hyper("learning_rate") is schedule
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.ones((8, 3), np.float32), np.zeros((8, 1), np.float32), batch_size=4, epochs=1, verbose=0)
    assert int(to_numpy(optimizer.iterations)) == 2
    assert float(to_numpy(optimizer._decayed_lr("float32"))) == pytest.approx(LR, rel=1e-6)


@needs_tf
@pytest.mark.skipif(FLAVOUR != "keras", reason="one flavour is enough for the import check")
def test_discovery_and_list_import_no_tensorflow():
    code = ("import sys, hfopt_core, hfopt_core.cli; hfopt_core.list_plugins(); hfopt_core.cli.main(['list'])\n"
            "from hfopt_core.frameworks import framework_of\n"
            "try:\n    framework_of(object())\nexcept Exception:\n    pass\n"
            "bad = [m for m in ('tensorflow', 'keras', 'tf_keras', 'torch') if m in sys.modules]\n"
            "assert not bad, bad")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "hfopt-adamweightdecay" in out.stdout and "hfopt-gradient-accumulator" in out.stdout
