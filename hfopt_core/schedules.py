"""Deprecated alias of the schedule helpers of :mod:`hfopt_core.plugin` (the 0.1 import path)."""
from __future__ import annotations

from ._deprecated import warn_moved
from .plugin import StepFunction, as_scheduler, check_steps, framework_of, initial_lr, min_lr_rate_of

__all__ = ["StepFunction", "as_scheduler", "check_steps", "framework_of", "initial_lr", "min_lr_rate_of"]

warn_moved(__name__, "from hfopt_core.plugin import StepFunction, as_scheduler, check_steps, framework_of, initial_lr, "
           "min_lr_rate_of")
