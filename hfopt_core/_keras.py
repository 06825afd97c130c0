"""Schedules on Keras: the ops namespaces for tensors and the ``LearningRateSchedule`` adapter.

Imported only when a Keras optimizer is seen (by :func:`hfopt_core._schedules.as_scheduler`), so
the core itself never imports TensorFlow or Keras.

* :class:`TFOps` and :class:`KerasOps` carry the names of :data:`hfopt_core._ops.PY_OPS`
  (``to_float``, ``where``, ``minimum``, ``maximum``, ``cos``, ``sqrt``, ``floor``, ``mod``,
  ``pow``, ``pi``) for TensorFlow tensors (both Keras flavours on the TensorFlow backend, inside
  ``tf.function(jit_compile=True)`` too) and for ``keras.ops`` on Keras 3's other backends. They
  compute in float64, so a schedule's value matches the Python-float formula to float32 rounding.
* :func:`schedule_class` gives the Keras-serializable ``LearningRateSchedule`` that evaluates any
  :class:`~hfopt_core._schedules.StepFunction`: ``initial_learning_rate * multiplier(step)``.
* :func:`keras_scheduler` builds it for an optimizer and installs it there.

Flavours: ``"keras"`` is Keras 3, ``"tf_keras"`` the legacy tf-keras that ``tf.keras`` gives when
``TF_USE_LEGACY_KERAS`` is ``1``/``true``/``True``.
"""
from __future__ import annotations

import functools
import importlib
import math
import os
import pkgutil

__all__ = ["KerasOps", "StepScheduleBase", "TFOps", "backend", "current_flavour", "flavour_of",
           "initial_learning_rate", "keras_module", "keras_scheduler", "ops_for", "schedule_class"]


def current_flavour() -> str:
    """The flavour ``tf.keras`` picks: ``"tf_keras"`` when ``TF_USE_LEGACY_KERAS`` is set, else ``"keras"``."""
    return "tf_keras" if os.environ.get("TF_USE_LEGACY_KERAS") in ("1", "true", "True") else "keras"


def flavour_of(obj) -> str | None:
    """``"keras"`` or ``"tf_keras"`` for an instance of a Keras class (found on its MRO), else ``None``."""
    for cls in type(obj).__mro__:
        root = cls.__module__.partition(".")[0]
        if root in ("keras", "tf_keras"):
            return root
    return None


def keras_module(flavour: str | None = None):
    """The ``keras`` (Keras 3) or ``tf_keras`` module for ``flavour`` (default: :func:`current_flavour`)."""
    return importlib.import_module(flavour or current_flavour())


def backend(flavour: str | None = None) -> str:
    """The Keras backend of ``flavour``: always ``"tensorflow"`` for tf-keras, ``keras.backend.backend()`` else."""
    if (flavour or current_flavour()) == "tf_keras":
        return "tensorflow"
    return keras_module("keras").backend.backend()


class _TensorOps:
    """The formula ops shared by both tensor namespaces: each function of ``self._lib`` on float64.

    A subclass sets ``_lib`` (a module with ``where``, ``minimum``, ``maximum``, ``cos``, ``sqrt``,
    ``floor``, ``cast``) and ``_pow`` (its power function) and defines ``_f`` (any number or
    tensor -> float64 tensor) and ``mod``.
    """

    pi = math.pi

    def to_float(self, x):
        """``x`` as a float64 tensor."""
        return self._f(x)

    def where(self, condition, if_true, if_false):
        """Element-wise select on float64 branches (both are evaluated); a Python ``bool`` picks directly."""
        if isinstance(condition, bool):
            return if_true if condition else if_false
        return self._lib.where(condition, self._f(if_true), self._f(if_false))

    def minimum(self, a, b):
        """Element-wise minimum."""
        return self._lib.minimum(self._f(a), self._f(b))

    def maximum(self, a, b):
        """Element-wise maximum."""
        return self._lib.maximum(self._f(a), self._f(b))

    def cos(self, x):
        """Cosine."""
        return self._lib.cos(self._f(x))

    def sqrt(self, x):
        """Square root."""
        return self._lib.sqrt(self._f(x))

    def floor(self, x):
        """Floor (as a float)."""
        return self._lib.floor(self._f(x))

    def pow(self, a, b):
        """``a ** b``."""
        return self._pow(self._f(a), self._f(b))

    def finish(self, value, dtype="float32"):
        """``value`` cast to ``dtype`` (the learning rate the optimizer reads)."""
        return self._lib.cast(self._f(value), dtype)


class TFOps(_TensorOps):
    """The formula ops on TensorFlow tensors, in float64 (graph- and XLA-safe)."""

    name = "tensorflow"

    def __init__(self):
        import tensorflow as tf

        self._tf = self._lib = tf
        self._pow = tf.pow

    def _f(self, x):
        tf = self._tf
        if isinstance(x, (bool, int, float)):
            return tf.constant(x, tf.float64)
        x = tf.convert_to_tensor(x)  # tensors, tf and Keras 3 variables, numpy values
        return x if x.dtype == tf.float64 else tf.cast(x, tf.float64)

    def mod(self, a, b):
        """``a % b`` with Python's sign convention (``floormod``)."""
        return self._tf.math.floormod(self._f(a), self._f(b))


class KerasOps(_TensorOps):
    """The formula ops through Keras 3's ``keras.ops``, in float64 (any backend: torch, jax, tensorflow)."""

    name = "keras"

    def __init__(self):
        import keras

        self._ops = self._lib = keras.ops
        self._pow = keras.ops.power

    def _f(self, x):
        ops = self._ops
        if isinstance(x, (int, float)):
            return ops.convert_to_tensor(float(x), dtype="float64")
        return ops.cast(x, "float64")

    def mod(self, a, b):
        """``a % b`` with Python's sign convention."""
        a, b = self._f(a), self._f(b)
        return a - self._ops.floor(a / b) * b


@functools.lru_cache(maxsize=None)
def _ops(kind: str):
    return TFOps() if kind == "tensorflow" else KerasOps()


def ops_for(flavour: str | None = None):
    """The ops namespace for ``flavour``'s backend: :class:`TFOps` on TensorFlow, :class:`KerasOps` otherwise."""
    return _ops("tensorflow" if backend(flavour) == "tensorflow" else "keras")


class StepScheduleBase:
    """Mixin of the Keras schedule adapter: ``initial_learning_rate * step_function(step)``.

    Args:
        step_function: a :class:`~hfopt_core._schedules.StepFunction` (any schedule written the
            documented way).
        initial_learning_rate: the learning rate the multiplier scales, a float.
        name: optional name. Defaults to ``None``.

    The concrete class for a flavour comes from :func:`schedule_class`.
    """

    _flavour = "keras"

    def __init__(self, step_function, initial_learning_rate, name=None):
        super().__init__()
        if not callable(getattr(step_function, "evaluate", None)):
            raise TypeError(f"step_function must be a StepFunction, got {step_function!r}")
        if isinstance(initial_learning_rate, bool) or not isinstance(initial_learning_rate, (int, float)):
            raise TypeError(f"initial_learning_rate must be a number, got {initial_learning_rate!r}")
        self.step_function = step_function
        self.initial_learning_rate = float(initial_learning_rate)
        self.name = name
        self._ops = ops_for(self._flavour)

    def __call__(self, step):
        """The learning rate at ``step`` (a tensor or number), as a float32 tensor."""
        ops = self._ops
        multiplier = self.step_function.evaluate(ops.to_float(step), ops)
        return ops.finish(ops.to_float(multiplier) * self.initial_learning_rate)

    def get_config(self):
        """Every argument: the formula's import path, its parameters, the initial lr and the name."""
        return {"formula": self.step_function.formula, "params": self.step_function.params,
                "initial_learning_rate": self.initial_learning_rate, "name": self.name}

    @classmethod
    def from_config(cls, config):
        """Rebuild from :meth:`get_config` (the formula is imported from its path)."""
        from ._schedules import StepFunction

        config = dict(config)
        formula = pkgutil.resolve_name(config.pop("formula"))
        step_function = StepFunction(formula, **dict(config.pop("params")))
        return cls(step_function, **config)

    def __repr__(self):
        return f"{type(self).__name__}({self.step_function!r}, initial_learning_rate={self.initial_learning_rate!r})"


@functools.lru_cache(maxsize=None)
def schedule_class(flavour: str):
    """The registered ``LearningRateSchedule`` adapter class of ``flavour`` (``"keras"`` or ``"tf_keras"``).

    Registered as ``hfopt>StepSchedule`` in that flavour's serialization registry when first
    asked for (the first ``get_scheduler(..., keras_optimizer)`` of a process), so from then on a
    model or optimizer saved with it loads without ``custom_objects``.
    """
    keras = keras_module(flavour)
    base = keras.optimizers.schedules.LearningRateSchedule
    cls = type("StepSchedule", (StepScheduleBase, base), {
        "_flavour": flavour, "__module__": __name__, "__qualname__": "StepSchedule",
        "__doc__": StepScheduleBase.__doc__})
    return keras.saving.register_keras_serializable(package="hfopt", name="StepSchedule")(cls)


def _lr_holder(optimizer):
    current = getattr(optimizer, "_learning_rate", None)
    if current is None and hasattr(optimizer, "_hyper"):
        current = optimizer._hyper.get("learning_rate")
    return current


def initial_learning_rate(optimizer) -> float:
    """The optimizer's learning rate as a float; ``ValueError`` when it already holds a schedule."""
    flavour = flavour_of(optimizer)
    keras = keras_module(flavour)
    current = _lr_holder(optimizer)
    if isinstance(current, keras.optimizers.schedules.LearningRateSchedule) or (
            callable(current) and not hasattr(current, "numpy")):
        raise ValueError(
            f"optimizer {type(optimizer).__name__} already has a learning-rate schedule ({current!r}): "
            "build it with a float learning_rate to schedule it with get_scheduler")
    import numpy as np

    value = keras.backend.get_value(current) if flavour == "tf_keras" else keras.ops.convert_to_numpy(current)
    value = np.asarray(value)
    # A float32 variable holds 0.002 as 0.0020000000949949026: take the shortest decimal that
    # rounds to it (what the user wrote), so schedules scale exactly as transformers' do.
    return float(str(np.float32(value))) if value.dtype == np.float32 else float(value)


def keras_scheduler(optimizer, step_function, last_epoch: int = -1):
    """Wrap ``step_function`` in a Keras schedule for ``optimizer``, install it there, and return it.

    Args:
        optimizer: a Keras 3 or tf-keras optimizer built with a float learning rate.
        step_function: the bound formula.
        last_epoch: must stay ``-1``: a Keras schedule follows ``optimizer.iterations``.
            Defaults to ``-1``.

    The schedule's value is ``initial lr * step_function(step)``; it becomes the optimizer's
    ``learning_rate`` (Keras 3 and tf-keras, new and legacy optimizers all allow that).
    """
    if last_epoch != -1:
        raise ValueError(f"last_epoch={last_epoch} is for torch schedulers: a Keras schedule follows "
                         "optimizer.iterations (assign it to resume)")
    flavour = flavour_of(optimizer)
    schedule = schedule_class(flavour)(step_function, initial_learning_rate(optimizer))
    optimizer.learning_rate = schedule
    return schedule

