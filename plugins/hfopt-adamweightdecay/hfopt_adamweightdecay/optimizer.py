"""``AdamWeightDecay`` and ``create_optimizer`` for the Keras flavour of this process.

The flavour is :func:`hfopt_core.plugin.keras_flavour` (fixed when hfopt's Keras classes are first loaded);
building one after ``TF_USE_LEGACY_KERAS`` changed raises a ``FrameworkError`` naming both Keras and the fix.

* tf-keras (``TF_USE_LEGACY_KERAS=1``): a subclass of ``tf_keras.optimizers.legacy.Adam`` (as in
  transformers 4.57.6) that decays each matching variable by ``lr_t * weight_decay_rate * w``
  just before its fused Adam update. Patterns are looked for in the variable's ``name``.
* Keras 3 (any backend): a subclass of ``keras.optimizers.Adam`` whose built-in decoupled decay
  (``w -= w * weight_decay * lr`` before the update, the same math) is restricted by the
  include/exclude patterns, looked for in the variable's ``path`` and ``name``. On the TensorFlow
  backend it creates its slot variables outside any ``tf.function`` and in the distribution
  strategy's scope, so a first ``apply_gradients`` inside ``strategy.run`` works.

A pattern matches a name as in transformers 4.57.6: when it is a substring of it (``p in name``);
``pattern_matching="regex"`` searches them as regular expressions instead (``re.search``).
"""
from __future__ import annotations

import numbers
import re

from hfopt_core.plugin import (argument_error, check_keras_flavour, check_number, keras_flavour, keras_module,
                               plain_number)
from hfopt_warmup import WarmUp

#: the Keras flavour of this process's hfopt classes (:func:`hfopt_core.plugin.keras_flavour`).
FLAVOUR = keras_flavour()
keras = keras_module(FLAVOUR)

__all__ = ["AdamWeightDecay", "create_optimizer"]

#: what ``create_optimizer`` excludes from weight decay (transformers' list).
DEFAULT_EXCLUDE = ["LayerNorm", "layer_norm", "bias"]

#: how patterns are matched: ``"substring"`` (transformers: ``p in name``) or ``"regex"`` (``re.search``).
PATTERN_MATCHING = ("substring", "regex")

#: the most training steps ``create_optimizer`` accepts: Keras counts steps in an int64 variable.
MAX_STEPS = 2**63 - 1


def _hyper(name, value, *, minimum=0, below=None):
    """Check a Python or numpy number (finite, ``>= minimum``, ``< below``) and return it as a plain one.

    Keras also takes tensors, variables and callables for these arguments: those pass unchanged.
    """
    plain = plain_number(value)
    if not isinstance(plain, (numbers.Real, str)):
        return value
    return check_number(name, plain, minimum=minimum, below=below)


def _decay_times_lr(weight_decay_rate, lr_name, lr):
    """``weight_decay_rate * lr <= 1``: a larger product flips the weights' sign instead of shrinking them."""
    if not lr * weight_decay_rate <= 1:
        raise argument_error("weight_decay_rate", f"<= 1 / {lr_name} ({lr_name} {lr!r}; each step multiplies the "
                             "weights by 1 - lr * rate)", weight_decay_rate)


def _peak_lr(learning_rate):
    """The largest learning rate known at construction: the number, or a schedule's ``initial_learning_rate``."""
    if isinstance(learning_rate, numbers.Real):
        return float(learning_rate)
    peak = plain_number(getattr(learning_rate, "initial_learning_rate", None))
    return float(peak) if isinstance(peak, numbers.Real) and not isinstance(peak, bool) else None


def _patterns(name, value, matching="substring"):
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(p, str) for p in value):
        raise argument_error(name, "a list of strings or None", value, wrong_type=True)
    if matching == "regex":
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise argument_error(name, f"a list of valid regular expressions (invalid regex {pattern!r}: {exc})",
                                     value) from None
    return list(value)


def _matches(pattern, name, matching):
    return re.search(pattern, name) is not None if matching == "regex" else pattern in name


class _PatternsMixin:
    """The include/exclude decision shared by both flavours (transformers' rule)."""

    def _do_use_weight_decay(self, *names):
        """Whether a variable known by ``names`` is decayed: include wins over exclude; default yes."""
        if self.weight_decay_rate == 0:
            return False
        matching = self.pattern_matching
        if self._include_in_weight_decay:
            if any(_matches(p, n, matching) for p in self._include_in_weight_decay for n in names):
                return True
        if self._exclude_from_weight_decay:
            if any(_matches(p, n, matching) for p in self._exclude_from_weight_decay for n in names):
                return False
        return True

    def _hf_config(self):
        return {"weight_decay_rate": self.weight_decay_rate,
                "include_in_weight_decay": self._include_in_weight_decay,
                "exclude_from_weight_decay": self._exclude_from_weight_decay,
                "pattern_matching": self.pattern_matching}


_DOC = """Adam with transformers' weight decay: ``w -= lr_t * weight_decay_rate * w`` before the update.

    Args:
        learning_rate: a float >= 0 or a Keras ``LearningRateSchedule``. Defaults to ``0.001``.
        beta_1: first-moment decay, in [0, 1). Defaults to ``0.9``.
        beta_2: second-moment decay, in [0, 1). Defaults to ``0.999``.
        epsilon: added to the denominator, >= 0. Defaults to ``1e-7``.
        amsgrad: use AMSGrad. Defaults to ``False``.
        weight_decay_rate: the decay rate, >= 0; 0 disables decay. With the peak learning rate known
            (a float ``learning_rate``, or a schedule's ``initial_learning_rate``), their product must
            be <= 1: a larger one would flip the sign of the weights instead of shrinking them.
            Defaults to ``0.0``.
        include_in_weight_decay: patterns; a variable matching any of them is decayed even when an
            exclude pattern matches. Defaults to ``None``.
        exclude_from_weight_decay: patterns; a matching variable is not decayed. Defaults to ``None``.
        name: the optimizer's name. Defaults to ``"AdamWeightDecay"``.
        pattern_matching: keyword-only; ``"substring"`` (transformers 4.57.6: a pattern matches a
            name it is a substring of, so ``"LayerNorm.gamma"`` does not match ``LayerNorm/gamma``
            and ``"(bias"`` is just text) or ``"regex"`` (``re.search``; each pattern must compile).
            Defaults to ``"substring"``.
        **kwargs: passed to Keras' Adam (``clipnorm``, ``clipvalue``, ``global_clipnorm``, ...).

    ``get_config`` keeps every argument (the patterns and ``pattern_matching`` too) and
    ``from_config`` restores them with the learning-rate schedule (a config without
    ``pattern_matching`` gets substring matching). Registered Keras-serializable as
    ``hfopt>AdamWeightDecay``. Raises ``TypeError``/``ValueError`` naming the argument and the value
    on bad input, before anything is built.
    """


def _check_args(learning_rate, beta_1, beta_2, epsilon, weight_decay_rate, include_in_weight_decay,
                exclude_from_weight_decay, pattern_matching, kwargs):
    """AdamWeightDecay's arguments checked (see its docstring for the rules), as a dict of plain values."""
    if "weight_decay" in kwargs:
        raise argument_error("weight_decay", "left out (AdamWeightDecay takes weight_decay_rate)",
                             kwargs["weight_decay"], wrong_type=True)
    if pattern_matching not in PATTERN_MATCHING:
        raise argument_error("pattern_matching", " or ".join(map(repr, PATTERN_MATCHING)), pattern_matching)
    checked = {
        "learning_rate": _hyper("learning_rate", learning_rate),
        "beta_1": _hyper("beta_1", beta_1, below=1),
        "beta_2": _hyper("beta_2", beta_2, below=1),
        "epsilon": _hyper("epsilon", epsilon),
        "weight_decay_rate": check_number("weight_decay_rate", weight_decay_rate, minimum=0),
        "include_in_weight_decay": _patterns("include_in_weight_decay", include_in_weight_decay, pattern_matching),
        "exclude_from_weight_decay": _patterns("exclude_from_weight_decay", exclude_from_weight_decay,
                                               pattern_matching),
    }
    for clip in ("clipnorm", "clipvalue", "global_clipnorm"):
        if kwargs.get(clip) is not None:
            kwargs[clip] = check_number(clip, kwargs[clip], positive=True)
    peak = _peak_lr(checked["learning_rate"])
    if peak is not None:
        _decay_times_lr(checked["weight_decay_rate"], "learning_rate", peak)
    return checked


if FLAVOUR == "tf_keras":
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="hfopt")
    class AdamWeightDecay(_PatternsMixin, keras.optimizers.legacy.Adam):
        __doc__ = _DOC

        def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                     weight_decay_rate=0.0, include_in_weight_decay=None, exclude_from_weight_decay=None,
                     name="AdamWeightDecay", *, pattern_matching="substring", **kwargs):
            check_keras_flavour("AdamWeightDecay", FLAVOUR)
            args = _check_args(learning_rate, beta_1, beta_2, epsilon, weight_decay_rate, include_in_weight_decay,
                               exclude_from_weight_decay, pattern_matching, kwargs)
            super().__init__(args["learning_rate"], args["beta_1"], args["beta_2"], args["epsilon"], amsgrad, name,
                             **kwargs)
            self.weight_decay_rate = args["weight_decay_rate"]
            self._include_in_weight_decay = args["include_in_weight_decay"]
            self._exclude_from_weight_decay = args["exclude_from_weight_decay"]
            self.pattern_matching = pattern_matching

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
            """The Adam config plus ``weight_decay_rate``, both pattern lists and ``pattern_matching``."""
            return {**super().get_config(), **self._hf_config()}

        @classmethod
        def from_config(cls, config, custom_objects=None):
            """Rebuild from :meth:`get_config`; a ``WarmUp`` schedule is found by its bare name too (h5 files)."""
            return super().from_config(config, custom_objects={"WarmUp": WarmUp, **(custom_objects or {})})

else:

    def _build_outside_functions(build, var_list):
        """``build(var_list)``; on TensorFlow inside a ``tf.function``, run eagerly in the strategy's scope.

        Keras 3 creates an optimizer's variables on its first ``apply``; inside a ``tf.function``
        under ``MirroredStrategy`` those variables break the function. Inside ``strategy.run``
        (a replica context) the build runs once, through ``merge_call``, for every replica.
        """
        if keras.backend.backend() != "tensorflow":
            return build(var_list)
        import tensorflow as tf

        if tf.executing_eagerly():
            return build(var_list)

        def eagerly(strategy=None):
            with tf.init_scope(), (strategy or tf.distribute.get_strategy()).scope():
                build(var_list)

        replica = tf.distribute.get_replica_context()
        if replica is not None and tf.distribute.has_strategy():
            replica.merge_call(eagerly)
        else:
            eagerly()

    @keras.saving.register_keras_serializable(package="hfopt")
    class AdamWeightDecay(_PatternsMixin, keras.optimizers.Adam):
        __doc__ = _DOC

        def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                     weight_decay_rate=0.0, include_in_weight_decay=None, exclude_from_weight_decay=None,
                     name="AdamWeightDecay", *, pattern_matching="substring", **kwargs):
            check_keras_flavour("AdamWeightDecay", FLAVOUR)
            args = _check_args(learning_rate, beta_1, beta_2, epsilon, weight_decay_rate, include_in_weight_decay,
                               exclude_from_weight_decay, pattern_matching, kwargs)
            rate = args["weight_decay_rate"]
            super().__init__(learning_rate=args["learning_rate"], beta_1=args["beta_1"], beta_2=args["beta_2"],
                             epsilon=args["epsilon"], amsgrad=amsgrad, weight_decay=rate if rate > 0 else None,
                             name=name, **kwargs)
            self.weight_decay_rate = rate
            self._include_in_weight_decay = args["include_in_weight_decay"]
            self._exclude_from_weight_decay = args["exclude_from_weight_decay"]
            self.pattern_matching = pattern_matching
            self._decay_cache = {}

        def build(self, var_list):
            """Create the slot variables of ``var_list`` (on TensorFlow, outside any ``tf.function``)."""
            # Decide now, on the Keras variables: on TensorFlow, Keras later hands
            # _use_weight_decay the backing tf.Variable ("dense/bias:0"), not the Keras variable.
            for variable in var_list:
                self._use_weight_decay(variable)
            _build_outside_functions(super().build, var_list)

        def _use_weight_decay(self, variable):
            key = self._var_key(variable)
            use = self._decay_cache.get(key)
            if use is None:  # a Keras variable's path, else (a tf.Variable) its name without the ":0"
                path = getattr(variable, "path", None) or re.sub(r":\d+$", "", variable.name)
                use = self._decay_cache[key] = self._do_use_weight_decay(path, variable.name)
            return use

        def get_config(self):
            """The Adam config plus ``weight_decay_rate``, both pattern lists and ``pattern_matching``."""
            config = super().get_config()
            config.pop("weight_decay", None)
            return {**config, **self._hf_config()}


def _check_create_optimizer_args(init_lr, num_train_steps, num_warmup_steps, min_lr_ratio, adam_beta1, adam_beta2,
                                 adam_epsilon, adam_clipnorm, adam_global_clipnorm, weight_decay_rate, power,
                                 include_in_weight_decay):
    """create_optimizer's arguments checked (see its docstring for the rules), as plain values.

    Returns ``(init_lr, num_train_steps, num_warmup_steps, min_lr_ratio, power, weight_decay_rate,
    adam_kwargs, include_in_weight_decay)``.
    """
    init_lr = check_number("init_lr", init_lr, positive=True, what="learning rate")
    num_train_steps = check_number("num_train_steps", num_train_steps, minimum=0, integer=True, what="number of steps")
    num_warmup_steps = check_number("num_warmup_steps", num_warmup_steps, minimum=0, integer=True,
                                    what="number of steps")
    if num_train_steps > MAX_STEPS:
        raise argument_error("num_train_steps", "<= 2**63 - 1 (Keras counts steps in int64)", num_train_steps)
    if num_warmup_steps > num_train_steps:
        raise argument_error("num_warmup_steps", f"<= num_train_steps ({num_train_steps})", num_warmup_steps)
    min_lr_ratio = check_number("min_lr_ratio", min_lr_ratio, minimum=0, maximum=1, what="ratio")
    power = check_number("power", power, positive=True)
    weight_decay_rate = check_number("weight_decay_rate", weight_decay_rate, minimum=0)
    _decay_times_lr(weight_decay_rate, "init_lr", init_lr)
    adam = {"beta_1": _hyper("adam_beta1", adam_beta1, below=1), "beta_2": _hyper("adam_beta2", adam_beta2, below=1),
            "epsilon": _hyper("adam_epsilon", adam_epsilon),
            "clipnorm": check_number("adam_clipnorm", adam_clipnorm, positive=True, allow_none=True),
            "global_clipnorm": check_number("adam_global_clipnorm", adam_global_clipnorm, positive=True,
                                            allow_none=True)}
    include = _patterns("include_in_weight_decay", include_in_weight_decay)
    return init_lr, num_train_steps, num_warmup_steps, min_lr_ratio, power, weight_decay_rate, adam, include


def create_optimizer(init_lr, num_train_steps, num_warmup_steps, min_lr_ratio=0.0, adam_beta1=0.9, adam_beta2=0.999,
                     adam_epsilon=1e-8, adam_clipnorm=None, adam_global_clipnorm=None, weight_decay_rate=0.0,
                     power=1.0, include_in_weight_decay=None):
    """An optimizer with a warmup + polynomial-decay schedule: ``(optimizer, lr_schedule)``.

    Args:
        init_lr: the peak learning rate, reached after the warmup; a positive finite number.
        num_train_steps: total training steps, an int in [0, 2**63 - 1] (Keras' int64 step counter).
        num_warmup_steps: warmup steps, an int in [0, num_train_steps].
        min_lr_ratio: the final lr as a fraction of ``init_lr``, in [0, 1]. Defaults to ``0.0``.
        adam_beta1: Adam's beta_1, in [0, 1). Defaults to ``0.9``.
        adam_beta2: Adam's beta_2, in [0, 1). Defaults to ``0.999``.
        adam_epsilon: Adam's epsilon, >= 0. Defaults to ``1e-8``.
        adam_clipnorm: per-variable gradient norm clip, positive. Defaults to ``None``.
        adam_global_clipnorm: global gradient norm clip, positive. Defaults to ``None``.
        weight_decay_rate: decay rate, >= 0 with ``init_lr * weight_decay_rate <= 1``; above 0 gives
            an :class:`AdamWeightDecay` excluding ``["LayerNorm", "layer_norm", "bias"]``, else a
            plain Keras Adam (as transformers). Defaults to ``0.0``.
        power: power of the polynomial decay, positive. Defaults to ``1.0``.
        include_in_weight_decay: patterns always decayed (substrings of the variable name, as in
            transformers). Defaults to ``None``.

    The schedule is a :class:`~hfopt_warmup.WarmUp` (when ``num_warmup_steps > 0``) over a Keras
    ``PolynomialDecay`` from ``init_lr`` to ``init_lr * min_lr_ratio`` across ``num_train_steps -
    num_warmup_steps`` steps (at least 1: transformers divides by 0 when they are equal). Bad
    values raise ``ValueError`` (wrong types ``TypeError``) naming the argument and the value.

    On Keras 3 under a ``tf.distribute`` strategy, the plain Keras Adam (``weight_decay_rate=0``)
    must be built in the strategy's scope before its first ``apply_gradients`` inside a
    ``tf.function`` (``with strategy.scope(): optimizer.build(variables)``; ``model.fit`` does
    this itself); :class:`AdamWeightDecay` builds itself outside the function.
    """
    check_keras_flavour("create_optimizer's optimizer", FLAVOUR)
    init_lr, num_train_steps, num_warmup_steps, min_lr_ratio, power, weight_decay_rate, adam, include = (
        _check_create_optimizer_args(init_lr, num_train_steps, num_warmup_steps, min_lr_ratio, adam_beta1,
                                     adam_beta2, adam_epsilon, adam_clipnorm, adam_global_clipnorm,
                                     weight_decay_rate, power, include_in_weight_decay))
    lr_schedule = keras.optimizers.schedules.PolynomialDecay(
        initial_learning_rate=init_lr, decay_steps=max(1, num_train_steps - num_warmup_steps),
        end_learning_rate=init_lr * min_lr_ratio, power=power)
    if num_warmup_steps:
        lr_schedule = WarmUp(initial_learning_rate=init_lr, decay_schedule_fn=lr_schedule,
                             warmup_steps=num_warmup_steps)
    if weight_decay_rate > 0.0:
        optimizer = AdamWeightDecay(learning_rate=lr_schedule, weight_decay_rate=weight_decay_rate,
                                    exclude_from_weight_decay=list(DEFAULT_EXCLUDE), include_in_weight_decay=include,
                                    **adam)
    else:
        optimizer = keras.optimizers.Adam(learning_rate=lr_schedule, **adam)
    return optimizer, lr_schedule
