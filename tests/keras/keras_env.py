"""Which Keras this test process runs: flavour and backend are fixed at import (see test_keras_flavours.py)."""
from __future__ import annotations

import importlib
import importlib.util
import os

import pytest

LEGACY = os.environ.get("TF_USE_LEGACY_KERAS") in ("1", "true", "True")
FLAVOUR = "tf_keras" if LEGACY else "keras"
BACKEND = "tensorflow" if LEGACY else os.environ.get("KERAS_BACKEND", "tensorflow")
if not LEGACY:
    # Pin Keras 3 for this process and its subprocesses: transformers' TF modules (the test
    # oracle) set TF_USE_LEGACY_KERAS=1 on import when it is unset.
    os.environ["TF_USE_LEGACY_KERAS"] = "0"
if BACKEND != "tensorflow" and importlib.util.find_spec(BACKEND) is None:
    pytest.skip(f"Keras backend {BACKEND} is not installed", allow_module_level=True)

keras = importlib.import_module(FLAVOUR)
ON_TF = BACKEND == "tensorflow"
needs_tf = pytest.mark.skipif(not ON_TF, reason="needs the TensorFlow backend")


def to_numpy(x):
    """A tensor of any backend as a numpy array."""
    if LEGACY:
        return keras.backend.get_value(x)
    return keras.ops.convert_to_numpy(x)
