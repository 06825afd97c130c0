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

import importlib

__all__ = ["AdamW", "adamw_single_tensor", "adamw_foreach", "adamw_fused", "step_size"]

_LAZY = {
    "AdamW": "hfopt_adamw.optimizer",
    "adamw_single_tensor": "hfopt_adamw.functional",
    "adamw_foreach": "hfopt_adamw.functional",
    "adamw_fused": "hfopt_adamw.functional",
    "step_size": "hfopt_adamw.functional",
}


def __getattr__(name: str):
    """Import ``AdamW`` and the functional implementations (and torch) on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as error:
        if error.name != "torch":
            raise
        raise ModuleNotFoundError(f"hfopt_adamw.{name} needs PyTorch: pip install 'hfopt-adamw[torch]'",
                                  name="torch") from error
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
