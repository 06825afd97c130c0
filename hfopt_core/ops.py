"""Deprecated alias of the Python ops namespace (:data:`hfopt_core.plugin.PY_OPS`; the 0.1 import path)."""
from __future__ import annotations

from ._deprecated import warn_moved
from ._ops import PythonOps
from .plugin import PY_OPS

__all__ = ["PY_OPS", "PythonOps"]

warn_moved(__name__, "from hfopt_core.plugin import PY_OPS")
