"""Adafactor for PyTorch, step-by-step identical to transformers' ``Adafactor``, but multi-tensor.

Public names (imported lazily, so ``import hfopt_adafactor.plugin`` never imports torch):

* :class:`Adafactor` - the optimizer (``hfopt_adafactor.optimizer``);
* :class:`AdafactorSchedule` and :func:`get_adafactor_schedule` - the proxy schedule that
  reports Adafactor's internal learning rate (``hfopt_adafactor.schedule``).
"""
from __future__ import annotations

__all__ = ["Adafactor", "AdafactorSchedule", "get_adafactor_schedule"]

_LAZY = {
    "Adafactor": "hfopt_adafactor.optimizer",
    "AdafactorSchedule": "hfopt_adafactor.schedule",
    "get_adafactor_schedule": "hfopt_adafactor.schedule",
}


def __getattr__(name: str):
    """Import the public names on first use (keeps plugin discovery torch-free)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hfopt_adafactor' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
