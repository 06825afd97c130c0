"""The float learning rate a Keras optimizer was built with (the "initial lr" a schedule scales).

Kept apart from :mod:`hfopt_core._keras` so the argument checks (:mod:`hfopt_core._checks`) can
read it without importing the schedule adapter (no import cycle). Imports Keras only when called.
"""
from __future__ import annotations

from .frameworks import flavour_of, keras_module

__all__ = ["initial_learning_rate", "lr_holder"]


def lr_holder(optimizer):
    """What ``optimizer`` holds as its learning rate: a variable, a schedule or a callable."""
    current = getattr(optimizer, "_learning_rate", None)
    if current is None and hasattr(optimizer, "_hyper"):
        current = optimizer._hyper.get("learning_rate")
    return current


def initial_learning_rate(optimizer) -> float:
    """The optimizer's learning rate as a float; ``ValueError`` when it already holds a schedule."""
    flavour = flavour_of(optimizer)
    keras = keras_module(flavour)
    current = lr_holder(optimizer)
    if isinstance(current, keras.optimizers.schedules.LearningRateSchedule) or (
            callable(current) and not hasattr(current, "numpy")):
        raise ValueError(
            f"optimizer {type(optimizer).__name__} already has a learning-rate schedule ({current!r}): "
            "build it with a float learning_rate to schedule it with get_scheduler")
    import numpy as np

    if flavour == "tf_keras":
        value = keras.backend.get_value(current)
    else:  # the variable's backend tensor, read without np.array(), which warns about __array__(copy=)
        value = getattr(current, "value", current)
        if hasattr(value, "detach"):  # torch
            value = value.detach().cpu().numpy()
        elif hasattr(value, "numpy"):  # tensorflow
            value = value.numpy()
        else:  # jax
            value = keras.ops.convert_to_numpy(value)
    value = np.asarray(value)
    # A float32 variable holds 0.002 as 0.0020000000949949026: take the shortest decimal that
    # rounds to it (what the user wrote), so schedules scale exactly as transformers' do.
    return float(str(np.float32(value))) if value.dtype == np.float32 else float(value)
