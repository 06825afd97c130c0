"""transformers' ``GradientAccumulator`` for TensorFlow custom training loops.

``GradientAccumulator`` imports TensorFlow, so it is loaded lazily on first attribute access:
``import hfopt_gradient_accumulator.plugin`` (what plugin discovery does) imports no framework.
It is TensorFlow-only; on Keras 3's other backends use the optimizers' own
``gradient_accumulation_steps`` argument.
"""
from __future__ import annotations

from hfopt_core.plugin import lazy_exports

__all__ = ["GradientAccumulator"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "GradientAccumulator": "hfopt_gradient_accumulator.accumulator",
}, distribution="hfopt-gradient-accumulator")
