"""``AdamWeightDecay`` and ``create_optimizer`` for the Keras flavour ``tf.keras`` picks.

* tf-keras (``TF_USE_LEGACY_KERAS=1``): a subclass of ``tf_keras.optimizers.legacy.Adam`` (as in
  transformers 4.57.6) that decays each matching variable by ``lr_t * weight_decay_rate * w``
  just before its fused Adam update. Patterns are searched in the variable's ``name``.
* Keras 3 (any backend): a subclass of ``keras.optimizers.Adam`` whose built-in decoupled decay
  (``w -= w * weight_decay * lr`` before the update, the same math) is restricted by the
  include/exclude patterns, searched in the variable's ``path`` and ``name``.
"""
from __future__ import annotations

import math
import numbers
import re

from hfopt_warmup.warmup import FLAVOUR, WarmUp, keras

__all__ = ["AdamWeightDecay", "create_optimizer"]

#: what ``create_optimizer`` excludes from weight decay (transformers' list).
DEFAULT_EXCLUDE = ["LayerNorm", "layer_norm", "bias"]


def _number(name, value, *, minimum=None, maximum=None, positive=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite number, got {value!r}")
    value = float(value) if not isinstance(value, int) else value
    if positive and not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    if minimum is not None and value < minimum or maximum is not None and value > maximum:
        bounds = f"in [{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
    return value


def _steps(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int number of steps, got {value!r}")
    value = int(value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def _patterns(name, value):
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise TypeError(f"{name} must be a list of regex strings or None, got {value!r}")
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{name} holds an invalid regex {pattern!r}: {exc}") from None
    return list(value)


class _PatternsMixin:
    """The include/exclude decision shared by both flavours (transformers' rule)."""

    def _do_use_weight_decay(self, *names):
        """Whether a variable known by ``names`` is decayed: include wins over exclude; default yes."""
        if self.weight_decay_rate == 0:
            return False
        if self._include_in_weight_decay:
            if any(re.search(p, n) for p in self._include_in_weight_decay for n in names):
                return True
        if self._exclude_from_weight_decay:
            if any(re.search(p, n) for p in self._exclude_from_weight_decay for n in names):
                return False
        return True

    def _hf_config(self):
        return {"weight_decay_rate": self.weight_decay_rate,
                "include_in_weight_decay": self._include_in_weight_decay,
                "exclude_from_weight_decay": self._exclude_from_weight_decay}


_DOC = """Adam with transformers' weight decay: ``w -= lr_t * weight_decay_rate * w`` before the update.

    Args:
        learning_rate: a float or a Keras ``LearningRateSchedule``. Defaults to ``0.001``.
        beta_1: first-moment decay. Defaults to ``0.9``.
        beta_2: second-moment decay. Defaults to ``0.999``.
        epsilon: added to the denominator. Defaults to ``1e-7``.
        amsgrad: use AMSGrad. Defaults to ``False``.
        weight_decay_rate: the decay rate, >= 0; 0 disables decay. Defaults to ``0.0``.
        include_in_weight_decay: regexes; a variable matching any of them is decayed even when an
            exclude pattern matches. Defaults to ``None``.
        exclude_from_weight_decay: regexes; a matching variable is not decayed. Defaults to ``None``.
        name: the optimizer's name. Defaults to ``"AdamWeightDecay"``.
        **kwargs: passed to Keras' Adam (``clipnorm``, ``clipvalue``, ``global_clipnorm``, ...).

    ``get_config`` keeps every argument (the patterns too) and ``from_config`` restores them with
    the learning-rate schedule. Registered Keras-serializable as ``hfopt>AdamWeightDecay``.
    Raises ``TypeError``/``ValueError`` naming the argument on bad input.
    """


def _check_args(weight_decay_rate, include_in_weight_decay, exclude_from_weight_decay, kwargs):
    weight_decay_rate = _number("weight_decay_rate", weight_decay_rate, minimum=0)
    if "weight_decay" in kwargs:
        raise TypeError(f"AdamWeightDecay takes weight_decay_rate, not weight_decay={kwargs['weight_decay']!r}")
    return (weight_decay_rate, _patterns("include_in_weight_decay", include_in_weight_decay),
            _patterns("exclude_from_weight_decay", exclude_from_weight_decay))


if FLAVOUR == "tf_keras":
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="hfopt")
    class AdamWeightDecay(_PatternsMixin, keras.optimizers.legacy.Adam):
        __doc__ = _DOC

        def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                     weight_decay_rate=0.0, include_in_weight_decay=None, exclude_from_weight_decay=None,
                     name="AdamWeightDecay", **kwargs):
            weight_decay_rate, include, exclude = _check_args(
                weight_decay_rate, include_in_weight_decay, exclude_from_weight_decay, kwargs)
            super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, name, **kwargs)
            self.weight_decay_rate = weight_decay_rate
            self._include_in_weight_decay = include
            self._exclude_from_weight_decay = exclude

        def _prepare_local(self, var_device, var_dtype, apply_state):
            super()._prepare_local(var_device, var_dtype, apply_state)
            apply_state[(var_device, var_dtype)]["weight_decay_rate"] = tf.constant(
                self.weight_decay_rate, dtype=var_dtype, name="adam_weight_decay_rate")

        def _decay(self, var, apply_state):
            if not self._do_use_weight_decay(var.name):
                return tf.no_op()
            key = (var.device, var.dtype.base_dtype)
            coefficients = (apply_state or {}).get(key) or self._fallback_apply_state(*key)
            return var.assign_sub(coefficients["lr_t"] * var * coefficients["weight_decay_rate"],
                                  use_locking=self._use_locking)

        def _resource_apply_dense(self, grad, var, apply_state=None):
            with tf.control_dependencies([self._decay(var, apply_state)]):
                return super()._resource_apply_dense(grad, var, apply_state)

        def _resource_apply_sparse(self, grad, var, indices, apply_state=None):
            with tf.control_dependencies([self._decay(var, apply_state)]):
                return super()._resource_apply_sparse(grad, var, indices, apply_state)

        def get_config(self):
            """The Adam config plus ``weight_decay_rate`` and both pattern lists."""
            return {**super().get_config(), **self._hf_config()}

        @classmethod
        def from_config(cls, config, custom_objects=None):
            """Rebuild from :meth:`get_config`; a ``WarmUp`` schedule is found by its bare name too (h5 files)."""
            return super().from_config(config, custom_objects={"WarmUp": WarmUp, **(custom_objects or {})})

else:

    @keras.saving.register_keras_serializable(package="hfopt")
    class AdamWeightDecay(_PatternsMixin, keras.optimizers.Adam):
        __doc__ = _DOC

        def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                     weight_decay_rate=0.0, include_in_weight_decay=None, exclude_from_weight_decay=None,
                     name="AdamWeightDecay", **kwargs):
            weight_decay_rate, include, exclude = _check_args(
                weight_decay_rate, include_in_weight_decay, exclude_from_weight_decay, kwargs)
            super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                             amsgrad=amsgrad, weight_decay=weight_decay_rate if weight_decay_rate > 0 else None,
                             name=name, **kwargs)
            self.weight_decay_rate = weight_decay_rate
            self._include_in_weight_decay = include
            self._exclude_from_weight_decay = exclude
            self._decay_cache = {}

        def _use_weight_decay(self, variable):
            key = self._var_key(variable)
            use = self._decay_cache.get(key)
            if use is None:
                use = self._decay_cache[key] = self._do_use_weight_decay(getattr(variable, "path", variable.name), variable.name)
            return use

        def get_config(self):
            """The Adam config plus ``weight_decay_rate`` and both pattern lists."""
            config = super().get_config()
            config.pop("weight_decay", None)
            return {**config, **self._hf_config()}


def create_optimizer(init_lr, num_train_steps, num_warmup_steps, min_lr_ratio=0.0, adam_beta1=0.9, adam_beta2=0.999,
                     adam_epsilon=1e-8, adam_clipnorm=None, adam_global_clipnorm=None, weight_decay_rate=0.0,
                     power=1.0, include_in_weight_decay=None):
    """An optimizer with a warmup + polynomial-decay schedule: ``(optimizer, lr_schedule)``.

    Args:
        init_lr: the peak learning rate, reached after the warmup; a positive number.
        num_train_steps: total training steps, an int >= 0.
        num_warmup_steps: warmup steps, an int in [0, num_train_steps].
        min_lr_ratio: the final lr as a fraction of ``init_lr``, in [0, 1]. Defaults to ``0.0``.
        adam_beta1: Adam's beta_1. Defaults to ``0.9``.
        adam_beta2: Adam's beta_2. Defaults to ``0.999``.
        adam_epsilon: Adam's epsilon. Defaults to ``1e-8``.
        adam_clipnorm: per-variable gradient norm clip. Defaults to ``None``.
        adam_global_clipnorm: global gradient norm clip. Defaults to ``None``.
        weight_decay_rate: decay rate; above 0 gives an :class:`AdamWeightDecay` excluding
            ``["LayerNorm", "layer_norm", "bias"]``, else a plain Keras Adam. Defaults to ``0.0``.
        power: power of the polynomial decay, positive. Defaults to ``1.0``.
        include_in_weight_decay: regexes always decayed. Defaults to ``None``.

    The schedule is a :class:`~hfopt_warmup.WarmUp` (when ``num_warmup_steps > 0``) over a Keras
    ``PolynomialDecay`` from ``init_lr`` to ``init_lr * min_lr_ratio`` across ``num_train_steps -
    num_warmup_steps`` steps (at least 1: transformers divides by 0 when they are equal).
    """
    init_lr = _number("init_lr", init_lr, positive=True)
    num_train_steps = _steps("num_train_steps", num_train_steps)
    num_warmup_steps = _steps("num_warmup_steps", num_warmup_steps)
    if num_warmup_steps > num_train_steps:
        raise ValueError(f"num_warmup_steps ({num_warmup_steps}) must be <= num_train_steps ({num_train_steps})")
    min_lr_ratio = _number("min_lr_ratio", min_lr_ratio, minimum=0, maximum=1)
    power = _number("power", power, positive=True)
    weight_decay_rate = _number("weight_decay_rate", weight_decay_rate, minimum=0)
    include = _patterns("include_in_weight_decay", include_in_weight_decay)
    lr_schedule = keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=init_lr, decay_steps=max(1, num_train_steps - num_warmup_steps),
        end_learning_rate=init_lr * min_lr_ratio, power=power)
    if num_warmup_steps:
        lr_schedule = WarmUp(initial_learning_rate=init_lr, decay_schedule_fn=lr_schedule,
                             warmup_steps=num_warmup_steps)
    adam = {"beta_1": adam_beta1, "beta_2": adam_beta2, "epsilon": adam_epsilon, "clipnorm": adam_clipnorm,
            "global_clipnorm": adam_global_clipnorm}
    if weight_decay_rate > 0.0:
        optimizer = AdamWeightDecay(learning_rate=lr_schedule, weight_decay_rate=weight_decay_rate,
                                    exclude_from_weight_decay=list(DEFAULT_EXCLUDE), include_in_weight_decay=include,
                                    **adam)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=lr_schedule, **adam)
    return optimizer, lr_schedule
