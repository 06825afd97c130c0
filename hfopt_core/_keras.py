"""Schedules on Keras: the ops namespaces for tensors and the ``LearningRateSchedule`` adapter.

Imported only when a Keras optimizer is seen (by :func:`hfopt_core._schedules.as_scheduler`), so
the core itself never imports TensorFlow or Keras.

* :class:`TFOps` and :class:`KerasOps` carry the names of :data:`hfopt_core._ops.PY_OPS`
  (``to_float``, ``where``, ``minimum``, ``maximum``, ``cos``, ``sqrt``, ``floor``, ``mod``,
  ``pow``, ``pi``) for TensorFlow tensors (both Keras flavours on the TensorFlow backend, inside
  ``tf.function(jit_compile=True)`` too) and for ``keras.ops`` on Keras 3's other backends. They
  compute in float64, so a schedule's value matches the Python-float formula to float32 rounding.
* On the jax backend without ``jax_enable_x64`` (where jax has no float64), :func:`jax_host_lr`
  evaluates the formula on the host with Python floats through ``jax.pure_callback`` (which runs
  under ``jax.jit`` too) and returns float32: the same numbers, no float64 request, no warning.
* :func:`schedule_class` gives the Keras-serializable ``LearningRateSchedule`` that evaluates any
  step function: ``initial_learning_rate * multiplier(step)``. Its config is data: the registry
  spec ``{"name": ..., **arguments}``; it is restored through the registry only
  (:func:`hfopt_core._restore.step_function_from_spec`).
* :func:`keras_scheduler` builds it for an optimizer and installs it there.

Which Keras (flavour, backend) is answered by :mod:`hfopt_core.frameworks`.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Mapping

from ._checks import check_number
from ._keras_lr import initial_learning_rate
from ._restore import legacy_spec, spec_of, step_function_from_spec
from .frameworks import flavour_of, jax_x64_enabled, keras_backend, keras_flavour, keras_module

__all__ = ["KerasOps", "StepScheduleBase", "TFOps", "backend", "current_flavour", "flavour_of",
           "initial_learning_rate", "jax_host_lr", "keras_module", "keras_objects", "keras_scheduler", "ops_for",
           "schedule_class"]

#: the flavour of hfopt's Keras classes in this process (see :func:`hfopt_core.frameworks.keras_flavour`).
current_flavour = keras_flavour
#: the Keras backend of a flavour (see :func:`hfopt_core.frameworks.keras_backend`).
backend = keras_backend


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
        import importlib

        import keras

        self._ops = self._lib = keras.ops
        self._pow = keras.ops.power
        # keras.ops.floor (torch, jax) and keras.ops.cos (jax) return float32 for float64 input:
        # those two come from the backend's own array library, which keeps float64.
        native = {"jax": "jax.numpy", "torch": "torch"}.get(keras.backend.backend())
        self._native = importlib.import_module(native) if native else keras.ops

    def _f(self, x):
        ops = self._ops
        if isinstance(x, (int, float)):
            return ops.convert_to_tensor(float(x), dtype="float64")
        return ops.cast(x, "float64")

    def mod(self, a, b):
        """``a % b`` with Python's sign convention."""
        a, b = self._f(a), self._f(b)
        return a - self.floor(a / b) * b

    def cos(self, x):
        """Cosine (float64 kept on every backend)."""
        return self._native.cos(self._f(x))

    def floor(self, x):
        """Floor, as a float (float64 kept on every backend)."""
        return self._native.floor(self._f(x))

    # keras.ops.minimum/maximum on the torch backend return float32 for two float64 tensors: a
    # select keeps float64 on every backend.
    def minimum(self, a, b):
        """Element-wise minimum (float64 kept on every backend)."""
        a, b = self._f(a), self._f(b)
        return self._ops.where(a <= b, a, b)

    def maximum(self, a, b):
        """Element-wise maximum (float64 kept on every backend)."""
        a, b = self._f(a), self._f(b)
        return self._ops.where(a >= b, a, b)


@functools.lru_cache(maxsize=None)
def _ops(kind: str):
    return TFOps() if kind == "tensorflow" else KerasOps()


def ops_for(flavour: str | None = None):
    """The ops namespace for ``flavour``'s backend: :class:`TFOps` on TensorFlow, :class:`KerasOps` otherwise."""
    return _ops("tensorflow" if backend(flavour) == "tensorflow" else "keras")


def jax_host_lr(step_function, initial_learning_rate: float, step):
    """``initial_learning_rate * step_function(step)`` as float32, computed on the host with Python floats.

    For the jax backend without ``jax_enable_x64``: ``jax.pure_callback`` runs the formula on
    the host for each element of ``step`` (any shape, traced under ``jax.jit`` or not), exactly as
    the plain Python step function computes it, and rounds the product once to float32.
    """
    import jax
    import numpy as np

    from keras import ops

    step = ops.convert_to_tensor(step)
    if not (np.issubdtype(step.dtype, np.integer) or np.issubdtype(step.dtype, np.floating)):
        raise TypeError(f"step must be a number or a numeric tensor, got {step.dtype}")

    def on_host(steps):
        steps = np.asarray(steps)
        out = np.empty(steps.shape, np.float32)
        for index, value in np.ndenumerate(steps):
            out[index] = initial_learning_rate * float(step_function(value.item()))
        return out

    return jax.pure_callback(on_host, jax.ShapeDtypeStruct(step.shape, np.float32), step,
                             vmap_method="expand_dims")


class StepScheduleBase:
    """Mixin of the Keras schedule adapter: ``initial_learning_rate * step_function(step)``.

    Args:
        step_function: a step function with ``evaluate(step, ops)`` (a
            :class:`~hfopt_core.plugin.StepFunction`: any schedule written the documented way).
        initial_learning_rate: the learning rate the multiplier scales, a number >= 0 and at most
            float32's largest (about 3.4e38: the schedule's value is float32).
        name: optional name, a str. Defaults to ``None``.

    The concrete class for a flavour comes from :func:`schedule_class`. Its config is data: the
    registry spec of the schedule and the initial lr; :meth:`from_config` rebuilds it through the
    registry only and validates it as construction does.
    """

    _flavour = "keras"
    _CONFIG_KEYS = ("schedule", "distribution", "initial_learning_rate", "name")
    _LEGACY_KEYS = ("formula", "params", "initial_learning_rate", "name")

    def __init__(self, step_function, initial_learning_rate, name=None):
        super().__init__()
        if not callable(getattr(step_function, "evaluate", None)):
            raise TypeError(f"step_function must be a StepFunction, got {step_function!r}")
        import numpy as np

        # the schedule's value is float32: a larger initial lr would be infinity there
        initial_learning_rate = check_number("initial_learning_rate", initial_learning_rate, minimum=0,
                                             what="learning rate")
        check_number("initial_learning_rate", initial_learning_rate, maximum=float(np.finfo(np.float32).max),
                     what="learning rate")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {type(name).__name__}: {name!r}")
        self.step_function = step_function
        self.initial_learning_rate = float(initial_learning_rate)
        self.name = name
        self._saved = None
        self._on_host = backend(self._flavour) == "jax" and not jax_x64_enabled()
        self._ops = None if self._on_host else ops_for(self._flavour)

    def __call__(self, step):
        """The learning rate at ``step`` (a tensor or number), as a float32 tensor."""
        if self._on_host:
            return jax_host_lr(self.step_function, self.initial_learning_rate, step)
        ops = self._ops
        multiplier = self.step_function.evaluate(ops.to_float(step), ops)
        return ops.finish(ops.to_float(multiplier) * self.initial_learning_rate)

    def _spec(self):
        if self._saved is None:
            found = spec_of(self.step_function)
            if found is None:
                raise ValueError(
                    f"{self.step_function!r} cannot be saved: no installed schedule plugin rebuilds it, and a "
                    "saved schedule is restored by its registry name only. Register the schedule "
                    "(see docs/plugin-authoring.md) to save it.")
            self._saved = found
        return self._saved

    def get_config(self):
        """The schedule as data: its registry spec, the providing distribution, the initial lr and the name.

        ``{"schedule": {"name": ..., **arguments}, "distribution": ..., "initial_learning_rate": ...,
        "name": ...}``; ``ValueError`` for a step function no registered schedule provides.
        """
        spec, distribution = self._spec()
        return {"schedule": spec, "distribution": distribution,
                "initial_learning_rate": self.initial_learning_rate, "name": self.name}

    @classmethod
    def from_config(cls, config):
        """Rebuild from :meth:`get_config` through the registry only, validating like construction.

        ``config["schedule"]`` is resolved by :func:`hfopt_core._restore.step_function_from_spec`
        (a missing plugin gives an error naming the distribution to install; bad values the
        schedule's own ``ValueError``/``TypeError``). A config written by hfopt 0.1 (a
        ``"formula"`` import string and ``"params"``) loads when a registered schedule provides
        that formula, and is refused otherwise; the string is never imported.
        """
        if not isinstance(config, Mapping):
            raise TypeError(f"a StepSchedule config must be a mapping, got {type(config).__name__}: {config!r}")
        legacy = "formula" in config
        allowed = cls._LEGACY_KEYS if legacy else cls._CONFIG_KEYS
        unknown = sorted(str(k) for k in config if k not in allowed)
        if unknown:
            raise TypeError(f"a StepSchedule config has unknown key(s) {', '.join(unknown)}; it takes {', '.join(allowed)}")
        if "initial_learning_rate" not in config:
            raise TypeError("a StepSchedule config needs initial_learning_rate")
        if legacy:
            spec, distribution = legacy_spec(config["formula"], config.get("params", {})), None
        elif "schedule" in config:
            spec, distribution = config["schedule"], config.get("distribution")
        else:
            raise TypeError("a StepSchedule config needs its schedule spec ({'name': ..., **arguments})")
        step_function = step_function_from_spec(spec, framework="keras", distribution=distribution)
        return cls(step_function, config["initial_learning_rate"], name=config.get("name"))

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


def keras_objects(flavour: str | None = None) -> dict:
    """hfopt's Keras-serializable classes of ``flavour``: ``{name: class}`` for ``custom_objects``.

    Args:
        flavour: ``"keras"`` or ``"tf_keras"``. Defaults to ``None`` (:func:`~hfopt_core.frameworks.keras_flavour`).

    The schedule adapter plus every class exported by an installed plugin that supports Keras
    (resolved through the registry) and is a Keras ``LearningRateSchedule`` or optimizer of that
    flavour: not a plain TensorFlow helper such as ``GradientAccumulator``.
    """
    from .manager import get_manager, resolve

    flavour = flavour or keras_flavour()
    keras = keras_module(flavour)
    bases = [keras.optimizers.schedules.LearningRateSchedule, keras.optimizers.Optimizer]
    legacy = getattr(keras.optimizers, "legacy", None)
    if isinstance(getattr(legacy, "Optimizer", None), type):
        bases.append(legacy.Optimizer)
    objects = {"StepSchedule": schedule_class(flavour)}
    manager = get_manager()
    for kind in ("schedule", "optimizer", "accumulator"):
        for spec in manager.specs(kind):
            if not {"keras", "tensorflow"} & set(spec.frameworks):
                continue
            for export, target in spec.exports.items():
                obj = resolve(target)
                if isinstance(obj, type) and issubclass(obj, tuple(bases)):
                    objects[export] = obj
    return objects
