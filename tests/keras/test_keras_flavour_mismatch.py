"""hfopt's Keras classes against a transformers TF model: the wrong import order is a clear error, the right one works."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from keras_env import FLAVOUR, ON_TF

pytestmark = pytest.mark.skipif(not (FLAVOUR == "keras" and ON_TF), reason="runs its own processes: once is enough")

WRONG_ORDER = """
import json
from hfopt_core import AdamWeightDecay, WarmUp, create_optimizer   # TF_USE_LEGACY_KERAS unset: Keras 3 classes
import transformers.modeling_tf_utils                              # sets TF_USE_LEGACY_KERAS=1: tf-keras models
from hfopt_core.frameworks import keras_flavour, requested_flavour
out = {"flavour": keras_flavour(), "requested": requested_flavour(), "class": sorted({c.__module__.split(".")[0] for c in AdamWeightDecay.__mro__} & {"keras", "tf_keras"})}
for name, build in [("AdamWeightDecay", lambda: AdamWeightDecay(1e-3)),
                    ("create_optimizer", lambda: create_optimizer(1e-3, 10, 2)),
                    ("WarmUp", lambda: WarmUp(1e-3, lambda step: 1e-3, 2))]:
    try:
        build()
        out[name] = None
    except Exception as exc:
        out[name] = [type(exc).__name__, str(exc)]
print("RESULT " + json.dumps(out))
"""

RIGHT_ORDER = """
import os
os.environ["TF_USE_LEGACY_KERAS"] = "1"      # what docs/tensorflow.md tells transformers TF-model users
import json, numpy as np
from hfopt_core import create_optimizer
from hfopt_core.frameworks import keras_flavour
from transformers.modeling_tf_utils import keras  # the Keras transformers' TF models are built with
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
optimizer, schedule = create_optimizer(1e-2, num_train_steps=4, num_warmup_steps=1, weight_decay_rate=0.01)
model.compile(optimizer=optimizer, loss="mse")
model.fit(np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32), batch_size=4, epochs=1, verbose=0)
print("RESULT " + json.dumps({"flavour": keras_flavour(), "keras": keras.__name__,
                              "iterations": int(optimizer.iterations.numpy())}))
"""


def run(code):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "KERAS_BACKEND")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.split("RESULT ", 1)[1])


def test_keras_3_classes_with_transformers_tf_models_raise_naming_both_and_the_fix():
    out = run(WRONG_ORDER)
    # keras_flavour() says what hfopt's classes are, not what the environment asks for now
    assert (out["flavour"], out["requested"], out["class"]) == ("keras", "tf_keras", ["keras"])
    for name in ("AdamWeightDecay", "create_optimizer", "WarmUp"):
        error, message = out[name]
        assert error == "FrameworkError", out[name]
        assert "Keras 3" in message and "tf-keras" in message and "TF_USE_LEGACY_KERAS=1 before importing" in message


def test_the_documented_order_trains_a_model_built_with_transformers_keras():
    out = run(RIGHT_ORDER)
    assert out == {"flavour": "tf_keras", "keras": "tf_keras", "iterations": 2}
