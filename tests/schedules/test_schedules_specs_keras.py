"""Composite specs on Keras, both flavours (Keras 3 on TensorFlow, tf-keras), each in a fresh interpreter.

A list of phases becomes the optimizer's ``LearningRateSchedule``: it equals ``initial lr *`` the
plain composite (whose phases are checked against transformers in test_schedules_specs.py) in eager
mode and inside ``tf.function(jit_compile=True)``, its config is plain JSON data that rebuilds it
through the registry (``from_config``), and a ``.keras`` model file saved with it loads back with
the same schedule.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("tensorflow")

CHILD = textwrap.dedent("""
    import importlib, json, os, sys, tempfile
    flavour = sys.argv[1]
    os.environ["TF_USE_LEGACY_KERAS"] = "1" if flavour == "tf_keras" else "0"
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import tensorflow as tf
    keras = importlib.import_module(flavour)
    from hfopt_core import get_scheduler
    from hfopt_core.compose import step_function

    PHASES = [{"name": "constant_with_warmup", "num_warmup_steps": "10%", "steps": "10%"},
              {"name": "polynomial", "num_warmup_steps": 0, "lr_end": 1e-4, "power": 2.0}]
    steps = [0, 3, 6, 7, 20, 45, 59, 70]
    opt = keras.optimizers.Adam(learning_rate=0.01)
    schedule = get_scheduler(PHASES, opt, num_training_steps=60)
    plain = step_function(PHASES, num_training_steps=60, initial_lr=0.01)  # lr_end is relative to 0.01
    want = [0.01 * plain(t) for t in steps]
    eager = [float(schedule(t)) for t in steps]
    graph = tf.function(lambda s: schedule(s), jit_compile=True)
    jitted = [float(graph(tf.constant(t, tf.int64))) for t in steps]
    config = json.loads(json.dumps(schedule.get_config()))
    rebuilt = type(schedule).from_config(config)
    restored = [float(rebuilt(t)) for t in steps]
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=opt, loss="mse")
    model.fit(tf.ones((4, 2)), tf.ones((4, 1)), epochs=1, verbose=0)
    path = os.path.join(tempfile.mkdtemp(), "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    lr = loaded.optimizer._learning_rate  # the schedule (learning_rate reads its current value)
    saved = [float(lr(t)) for t in steps]
    print(json.dumps({"want": want, "eager": eager, "jitted": jitted, "restored": restored, "saved": saved,
                      "config": config, "optimizer_has_it": opt._learning_rate is schedule,
                      "loaded_type": type(lr).__name__}))
""")


@pytest.mark.parametrize("flavour", ["keras", "tf_keras"])
def test_a_composite_is_a_keras_schedule(flavour):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HFOPT_", "PYTEST_"))}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([sys.executable, "-c", CHILD, flavour], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    want = result["want"]
    # warmup 0.01 * t / 6, then polynomial from 0.01 at step 6 down to lr_end after step 60
    assert want[:3] == pytest.approx([0.0, 0.005, 0.01]) and want[-1] == pytest.approx(1e-4)
    for key in ("eager", "jitted", "restored", "saved"):
        assert result[key] == pytest.approx(want, rel=1e-6, abs=1e-9), key  # float32 learning rates
    spec = result["config"]["schedule"]
    assert [phase["name"] for phase in spec] == ["constant_with_warmup", "polynomial"]
    assert [phase["steps"] for phase in spec] == [6, 54]  # plain data: the canonical phases
    assert result["optimizer_has_it"] and result["loaded_type"] == "StepSchedule"
