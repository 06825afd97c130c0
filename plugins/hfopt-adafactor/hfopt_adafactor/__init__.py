"""Adafactor for PyTorch, step-by-step identical to transformers' ``Adafactor``, but multi-tensor.

Public names (imported lazily on first attribute access, so ``import hfopt_adafactor.plugin``,
what plugin discovery does, never imports torch):

* :class:`Adafactor` - the optimizer (``hfopt_adafactor.optimizer``);
* :class:`AdafactorSchedule` and :func:`get_adafactor_schedule` - the proxy schedule that
  reports Adafactor's internal learning rate (``hfopt_adafactor.schedule``).
"""
from __future__ import annotations

from hfopt_core.plugin import lazy_exports

__all__ = ["Adafactor", "AdafactorSchedule", "get_adafactor_schedule"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "Adafactor": "hfopt_adafactor.optimizer",
    "AdafactorSchedule": "hfopt_adafactor.schedule",
    "get_adafactor_schedule": "hfopt_adafactor.schedule",
}, distribution="hfopt-adafactor")
