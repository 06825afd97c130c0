"""transformers' ``AdamWeightDecay`` and ``create_optimizer`` for Keras 3 and tf-keras.

Both import Keras, so they are loaded lazily on first attribute access: ``import
hfopt_adamweightdecay.plugin`` (what plugin discovery does) imports no framework. The Keras
flavour is the one ``tf.keras`` picks: tf-keras when ``TF_USE_LEGACY_KERAS=1``, else Keras 3.

Per step with learning rate ``lr_t`` (the schedule's value, before bias correction), for every
variable ``w`` whose name matches the weight-decay patterns::

    w = w - lr_t * weight_decay_rate * w        (before the Adam update)
    w = Adam(w, g)
"""
from __future__ import annotations

from hfopt_core.plugin import lazy_exports

__all__ = ["AdamWeightDecay", "create_optimizer"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "AdamWeightDecay": "hfopt_adamweightdecay.optimizer",
    "create_optimizer": "hfopt_adamweightdecay.optimizer",
}, distribution="hfopt-adamweightdecay")
