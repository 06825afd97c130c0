"""transformers' ``WarmUp`` learning-rate schedule for Keras 3 and tf-keras.

``WarmUp`` imports Keras, so it is loaded lazily on first attribute access: ``import
hfopt_warmup.plugin`` (what plugin discovery does) imports no framework. The Keras flavour is
:func:`hfopt_core.plugin.keras_flavour`: tf-keras when ``TF_USE_LEGACY_KERAS=1`` as hfopt's Keras
classes are first loaded, else Keras 3.

Learning rate at step ``t`` with ``W`` warmup steps, initial lr ``l0`` and power ``p``::

    t < W:  l0 * (t / W) ** p
    else:   decay_schedule_fn(t - W)
"""
from __future__ import annotations

from hfopt_core.plugin import lazy_exports

__all__ = ["WarmUp", "get_warmup_schedule"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "WarmUp": "hfopt_warmup.warmup",
    "get_warmup_schedule": "hfopt_warmup.warmup",
}, distribution="hfopt-warmup")
