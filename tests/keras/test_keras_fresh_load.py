"""A model whose optimizer holds hfopt objects loads in a fresh process after register_keras_objects()."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from keras_env import FLAVOUR, ON_TF, needs_tf

SAVE = """
import json, sys, numpy as np
import {flavour} as keras
from hfopt_core import get_scheduler
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
optimizer = keras.optimizers.Adam(learning_rate=0.01)
get_scheduler("cosine", optimizer, num_warmup_steps=2, num_training_steps=10)
model.compile(optimizer=optimizer, loss="mse")
model.fit(np.ones((8, 3)), np.zeros((8, 2)), epochs=1, batch_size=4, verbose=0)
model.save(sys.argv[1])
print(json.dumps({{"lr": float(optimizer.learning_rate.numpy() if hasattr(optimizer.learning_rate, "numpy")
                                else optimizer.learning_rate)}}))
"""

LOAD = """
import json, sys
import {flavour} as keras
import hfopt_core
objects = hfopt_core.register_keras_objects()
model = keras.models.load_model(sys.argv[1])
schedule = model.optimizer._learning_rate  # the schedule object (learning_rate gives its value)
print(json.dumps({{"objects": sorted(objects), "schedule": type(schedule).__name__,
                  "at_5": float(schedule(5)), "config": schedule.get_config()}}))
"""


@needs_tf
def test_saved_model_with_a_registry_schedule_loads_in_a_fresh_process(tmp_path):
    path = str(tmp_path / ("model.keras" if FLAVOUR == "keras" else "model.h5"))
    env = dict(os.environ)
    subprocess.run([sys.executable, "-c", SAVE.format(flavour=FLAVOUR), path], check=True, env=env,
                   capture_output=True, text=True)
    out = subprocess.run([sys.executable, "-c", LOAD.format(flavour=FLAVOUR), path], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"StepSchedule", "AdamWeightDecay", "WarmUp"} <= set(loaded["objects"])
    assert "GradientAccumulator" not in loaded["objects"]  # not a Keras object
    assert loaded["schedule"] == "StepSchedule"
    assert loaded["config"]["schedule"] == {"name": "cosine", "num_warmup_steps": 2, "num_training_steps": 10,
                                            "num_cycles": 0.5}
    assert loaded["config"]["distribution"] == "hfopt-schedule-cosine"
    progress = (5 - 2) / 8
    import math

    assert abs(loaded["at_5"] - 0.01 * 0.5 * (1 + math.cos(math.pi * progress))) < 1e-7
    assert ON_TF
