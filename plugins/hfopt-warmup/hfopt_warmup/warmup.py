"""``WarmUp`` for the Keras flavour of this process (see the package docstring for the formula).

The flavour is :func:`hfopt_core.plugin.keras_flavour`: tf-keras when ``TF_USE_LEGACY_KERAS`` was
``1`` when hfopt's Keras classes were first loaded, else Keras 3. Building a ``WarmUp`` after the
variable changed (transformers' TF models set it) raises a ``FrameworkError`` saying which Keras
each side uses and the fix.

On tf-keras the computation is transformers 4.57.6's, in float32 with ``tf.cond``; on Keras 3 it
is the same math through ``keras.ops``, so it also runs on the torch and jax backends.
"""
from __future__ import annotations

import numpy as np

from hfopt_core.plugin import argument_error, check_keras_flavour, check_number, keras_flavour, keras_module

__all__ = ["FLAVOUR", "WarmUp", "get_warmup_schedule", "keras"]

#: the Keras flavour of this process's hfopt classes (:func:`hfopt_core.plugin.keras_flavour`).
FLAVOUR = keras_flavour()
keras = keras_module(FLAVOUR)

if FLAVOUR == "tf_keras":
    import tensorflow as tf

    def _cast(x, dtype):
        return tf.cast(x, dtype)

    def _cond(pred, if_true, if_false, name=None):
        return tf.cond(pred, if_true, if_false, name=name)

    _pow = tf.math.pow
    _name_scope = tf.name_scope
else:
    import contextlib

    _ops = keras.ops
    _cast = _ops.cast
    _pow = _ops.power

    def _cond(pred, if_true, if_false, name=None):
        return _ops.cond(pred, if_true, if_false)

    def _name_scope(name):
        return contextlib.nullcontext(name)


#: the most steps a schedule counts: Keras counts steps in int64
MAX_STEPS = 2**63 - 1
#: the largest learning rate: the schedule's value is float32, and anything larger is infinity there
MAX_LEARNING_RATE = float(np.finfo(np.float32).max)


def _check_number(name, value, *, positive=False, maximum=None, integer=False, what="number"):
    """``value`` checked >= 0 (or > 0), then (with its own message) against ``maximum``."""
    value = check_number(name, value, minimum=None if positive else 0, positive=positive, integer=integer, what=what)
    return value if maximum is None else check_number(name, value, maximum=maximum, integer=integer, what=what)


@keras.saving.register_keras_serializable(package="hfopt")
class WarmUp(keras.optimizers.schedules.LearningRateSchedule):
    """Polynomial warmup to ``initial_learning_rate``, then ``decay_schedule_fn(step - warmup_steps)``.

    Args:
        initial_learning_rate: the learning rate reached at the end of the warmup, a number >= 0
            (at most float32's largest, about 3.4e38).
        decay_schedule_fn: the schedule after the warmup, any callable ``step -> lr`` (usually a
            Keras ``LearningRateSchedule``, which is what keeps the ``WarmUp`` serializable).
        warmup_steps: the number of warmup steps, an int >= 0 (at most 2**63 - 1, Keras' int64 step count).
        power: the warmup's polynomial power, positive; 1.0 is linear. Defaults to ``1.0``.
        name: optional name for the operations. Defaults to ``None``.

    Unlike transformers' ``WarmUp``, :meth:`get_config` serializes the nested schedule and
    :meth:`from_config` restores it, so a saved model or optimizer loads and keeps working after
    the warmup. Raises ``TypeError``/``ValueError`` naming the argument on bad input.
    """

    def __init__(self, initial_learning_rate, decay_schedule_fn, warmup_steps, power=1.0, name=None):
        check_keras_flavour("WarmUp", FLAVOUR)
        super().__init__()
        initial_learning_rate = _check_number("initial_learning_rate", initial_learning_rate,
                                              maximum=MAX_LEARNING_RATE)
        if isinstance(decay_schedule_fn, dict):
            decay_schedule_fn = keras.optimizers.schedules.deserialize(decay_schedule_fn)
        if not callable(decay_schedule_fn):
            raise argument_error("decay_schedule_fn", "callable (a LearningRateSchedule)", decay_schedule_fn,
                                 wrong_type=True)
        warmup_steps = _check_number("warmup_steps", warmup_steps, integer=True, maximum=MAX_STEPS,
                                     what="number of steps")
        power = _check_number("power", power, positive=True)
        if name is not None and not isinstance(name, str):
            raise argument_error("name", "a str or None", name, wrong_type=True)
        self.initial_learning_rate = initial_learning_rate
        self.decay_schedule_fn = decay_schedule_fn
        self.warmup_steps = warmup_steps
        self.power = power
        self.name = name

    def __call__(self, step):
        """The learning rate at ``step`` (a scalar tensor or number)."""
        with _name_scope(self.name or "WarmUp") as name:
            step_float = _cast(step, "float32")
            warmup_float = _cast(self.warmup_steps, "float32")
            warmup_lr = self.initial_learning_rate * _pow(step_float / warmup_float, self.power)
            return _cond(step_float < warmup_float, lambda: warmup_lr,
                         lambda: self.decay_schedule_fn(step - self.warmup_steps), name=name)

    def get_config(self):
        """Every argument; the nested schedule as its Keras config (a plain callable is kept as is)."""
        decay = self.decay_schedule_fn
        if isinstance(decay, keras.optimizers.schedules.LearningRateSchedule):
            decay = keras.optimizers.schedules.serialize(decay)
        return {"initial_learning_rate": self.initial_learning_rate, "decay_schedule_fn": decay,
                "warmup_steps": self.warmup_steps, "power": self.power, "name": self.name}

    @classmethod
    def from_config(cls, config):
        """Rebuild from :meth:`get_config`, deserializing the nested schedule."""
        return cls(**config)


def get_warmup_schedule(optimizer, num_warmup_steps, num_training_steps=None, decay_schedule_fn=None, power=1.0,
                        name=None):
    """A :class:`WarmUp` to the Keras ``optimizer``'s learning rate, installed as its ``learning_rate``.

    Args:
        optimizer: a Keras optimizer built with a float learning rate (its initial lr).
        num_warmup_steps: warmup steps, an int >= 0.
        num_training_steps: total steps; when given (and ``decay_schedule_fn`` is not), the decay
            is linear to 0 at ``num_training_steps``. Defaults to ``None``.
        decay_schedule_fn: the schedule after the warmup. Defaults to ``None``: linear decay
            with ``num_training_steps``, else the constant initial lr.
        power: the warmup's polynomial power. Defaults to ``1.0``.
        name: optional name. Defaults to ``None``.
    """
    from hfopt_core.plugin import FrameworkError, framework_of, initial_lr

    if optimizer is None or framework_of(optimizer) != "keras":
        raise FrameworkError(f"warmup is Keras only: pass a Keras optimizer, got {optimizer!r}")
    num_warmup_steps = _check_number("num_warmup_steps", num_warmup_steps, integer=True, maximum=MAX_STEPS,
                                     what="number of steps")
    lr = initial_lr(optimizer, needed_for="warmup")
    if decay_schedule_fn is None:
        if num_training_steps is not None:
            _check_number("num_training_steps", num_training_steps, maximum=MAX_STEPS, what="number of steps")
            if num_training_steps < num_warmup_steps:
                raise argument_error("num_training_steps", f">= num_warmup_steps ({num_warmup_steps})",
                                     num_training_steps)
        decay_steps = max(1, (num_training_steps or 0) - num_warmup_steps) if num_training_steps is not None else 1
        end = 0.0 if num_training_steps is not None else lr
        decay_schedule_fn = keras.optimizers.schedules.PolynomialDecay(lr, decay_steps, end_learning_rate=end)
    schedule = WarmUp(lr, decay_schedule_fn, num_warmup_steps, power=power, name=name)
    optimizer.learning_rate = schedule
    return schedule
