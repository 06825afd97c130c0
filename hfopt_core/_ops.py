"""The tiny ops namespace schedule formulas are written against.

A formula takes ``(step, ops, **params)`` and uses only arithmetic operators plus the functions
below, so one definition serves Python floats (:data:`PY_OPS`) and, through another namespace
with the same names, graph frameworks. ``where`` evaluates both branches, so every branch of a
formula must stay finite for any step (clamp before ``sqrt``, ``pow`` and ``log``).
"""
from __future__ import annotations

import math


class PythonOps:
    """Ops on Python floats. The results are bit-identical to the plain ``math`` expressions."""

    name = "python"
    pi = math.pi

    @staticmethod
    def to_float(x):
        """``float(x)``."""
        return float(x)

    @staticmethod
    def where(condition, if_true, if_false):
        """``if_true if condition else if_false``."""
        return if_true if condition else if_false

    @staticmethod
    def minimum(a, b):
        """The smaller of ``a`` and ``b`` (``min``)."""
        return min(a, b)

    @staticmethod
    def maximum(a, b):
        """The larger of ``a`` and ``b`` (``max``)."""
        return max(a, b)

    cos = staticmethod(math.cos)
    sqrt = staticmethod(math.sqrt)
    floor = staticmethod(math.floor)

    @staticmethod
    def mod(a, b):
        """``a % b`` with Python's sign convention."""
        return a % b

    @staticmethod
    def pow(a, b):
        """``a ** b``."""
        return a**b

    def __reduce__(self):
        return "PY_OPS"


PY_OPS = PythonOps()
