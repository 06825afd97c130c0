"""transformers' ``AdamW`` (``correct_bias``, decay applied after the update) for PyTorch.

``AdamW`` and the functional implementations import torch, so they are loaded lazily on first
attribute access: ``import hfopt_adamw.plugin`` (what plugin discovery does) never imports torch.

Per step ``t`` with gradient ``g``, for every parameter ``p``::

    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    step_size = lr * sqrt(1 - beta2**t) / (1 - beta1**t)     (lr when correct_bias=False)
    p = p - step_size * m / (sqrt(v) + eps)
    p = p - lr * weight_decay * p
"""
from __future__ import annotations

from hfopt_core.plugin import lazy_exports

__all__ = ["AdamW", "adamw_single_tensor", "adamw_foreach", "adamw_fused", "step_size"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "AdamW": "hfopt_adamw.optimizer",
    "adamw_single_tensor": "hfopt_adamw.functional",
    "adamw_foreach": "hfopt_adamw.functional",
    "adamw_fused": "hfopt_adamw.functional",
    "step_size": "hfopt_adamw.functional",
}, distribution="hfopt-adamw")
