"""Schedules on JAX: the ops namespace on ``jax.numpy`` and the jit-able schedule functions.

Imported only for ``get_scheduler(spec, None, ..., framework="jax")`` and
:func:`hfopt_core.optax_schedule`; jax itself is imported when the first schedule is evaluated
(``import hfopt_core`` never imports it).

Precision: every value is computed in JAX's default float type: float64 when x64 is enabled
(``jax.config.update("jax_enable_x64", True)`` or ``jax.experimental.enable_x64()``), where the
schedules match transformers within 1e-6; float32 otherwise, where they match within float32
rounding (about 1e-7 relative on the multiplier, larger on the step count of runs beyond 2**24
steps). Nothing here enables x64 or emits a warning either way.
"""
from __future__ import annotations

import math

__all__ = ["JaxOps", "JaxSchedule", "jax_schedule"]


class JaxOps:
    """The formula ops on ``jax.numpy`` in JAX's default float type (traceable under ``jax.jit``)."""

    name = "jax"
    pi = math.pi

    def __init__(self):
        import jax.numpy as jnp

        self._jnp = jnp

    def _f(self, x):
        jnp = self._jnp
        return jnp.asarray(x, dtype=jnp.result_type(float))

    def to_float(self, x):
        """``x`` as a float array of the default float type."""
        return self._f(x)

    def where(self, condition, if_true, if_false):
        """Element-wise select (both branches evaluated); a Python ``bool`` picks directly."""
        if isinstance(condition, bool):
            return if_true if condition else if_false
        return self._jnp.where(condition, self._f(if_true), self._f(if_false))

    def minimum(self, a, b):
        """Element-wise minimum."""
        return self._jnp.minimum(self._f(a), self._f(b))

    def maximum(self, a, b):
        """Element-wise maximum."""
        return self._jnp.maximum(self._f(a), self._f(b))

    def cos(self, x):
        """Cosine."""
        return self._jnp.cos(self._f(x))

    def sqrt(self, x):
        """Square root."""
        return self._jnp.sqrt(self._f(x))

    def floor(self, x):
        """Floor (as a float)."""
        return self._jnp.floor(self._f(x))

    def mod(self, a, b):
        """``a % b`` with Python's sign convention."""
        return self._jnp.mod(self._f(a), self._f(b))

    def pow(self, a, b):
        """``a ** b``."""
        return self._jnp.power(self._f(a), self._f(b))


_OPS = None


def jax_ops() -> JaxOps:
    """The shared :class:`JaxOps`."""
    global _OPS
    if _OPS is None:
        _OPS = JaxOps()
    return _OPS


class JaxSchedule:
    """``step -> multiplier * scale`` on ``jax.numpy``: a jit-able schedule (an optax schedule when scaled).

    Args:
        step_function: a plain step function (a ``StepFunction`` or a joined one) with ``evaluate``.
        scale: the factor applied to the multiplier (the peak learning rate for optax). Defaults to ``1.0``.
    """

    def __init__(self, step_function, scale=1.0):
        if not callable(getattr(step_function, "evaluate", None)):
            raise TypeError(f"step_function must have evaluate(step, ops), got {step_function!r}")
        self.step_function = step_function
        self.scale = scale

    def __call__(self, step):
        """The value at ``step`` (an int, or a traced integer array inside ``jax.jit``)."""
        ops = jax_ops()
        value = ops.to_float(self.step_function.evaluate(ops.to_float(step), ops))
        return value if self.scale == 1.0 else value * ops.to_float(self.scale)

    def __repr__(self):
        return f"JaxSchedule({self.step_function!r}, scale={self.scale!r})"


def jax_schedule(step_function) -> JaxSchedule:
    """The jit-able ``step -> multiplier`` of ``step_function``."""
    return JaxSchedule(step_function)
