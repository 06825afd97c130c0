"""Deprecated alias of the formula helpers of :mod:`hfopt_core.plugin` (the 0.1 import path)."""
from __future__ import annotations

from ._deprecated import warn_moved
from .plugin import decay_progress, linear_warmup, warmup_then

__all__ = ["decay_progress", "linear_warmup", "warmup_then"]

warn_moved(__name__, "from hfopt_core.plugin import decay_progress, linear_warmup, warmup_then")
