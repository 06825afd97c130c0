"""Schedules defined once: step functions and the adapters that turn them into framework objects.

A schedule plugin writes its formula as a module-level function ``formula(step, ops, **params)``
(see :mod:`hfopt_core.ops`) returning the learning-rate multiplier, wraps it with its arguments
in a :class:`StepFunction`, and hands that to :func:`as_scheduler`, which returns

* the :class:`StepFunction` itself when ``optimizer`` is ``None`` (a plain ``step -> multiplier``);
* a ``torch.optim.lr_scheduler.LambdaLR`` for a torch optimizer.
"""
from __future__ import annotations

import functools

from ._checks import plain_number as _plain_number
from ._ops import PY_OPS
from .frameworks import framework_of, is_keras_optimizer as _is_keras_optimizer  # noqa: F401 (0.1 names)

_PLAIN = (int, float, str, bool, type(None))


def _formula_ref(formula) -> str:
    module, qualname = getattr(formula, "__module__", None), getattr(formula, "__qualname__", "")
    if not module or "<" in qualname:
        raise ValueError(f"a schedule formula must be a module-level function, got {formula!r}")
    return f"{module}:{qualname}"


def _plain(value) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return isinstance(value, _PLAIN)


class _OnFloats:
    """A schedule formula evaluated with Python floats: ``f(step, **params)``, as transformers' lambdas are.

    It is the ``func`` of a :class:`StepFunction`; ``ops`` defaults to :data:`PY_OPS` and can be
    given to evaluate the same formula on tensors or graphs. Pickles as the formula's import path.
    """

    __slots__ = ("formula",)

    def __init__(self, formula):
        self.formula = formula

    def __call__(self, step, ops=PY_OPS, /, **params):
        return self.formula(step, ops, **params)

    def __reduce__(self):
        return (_OnFloats, (self.formula,))

    def __eq__(self, other):
        return type(other) is _OnFloats and other.formula is self.formula

    def __hash__(self):
        return hash(self.formula)

    def __repr__(self):
        return f"<formula {_formula_ref(self.formula)}>"


def _restore(formula, params):
    return StepFunction(formula, **params)


class StepFunction(functools.partial):
    """A schedule formula bound to its arguments: ``fn(step) -> learning-rate multiplier``.

    Args:
        formula: module-level function ``formula(step, ops, **params)``.
        **params: its arguments; plain values only (numbers, strings, bools, ``None``, tuples).
            numpy scalars and 0-d tensors are converted to Python numbers once, here.

    A ``functools.partial`` subclass, as transformers' step functions are: ``.args`` is ``()``,
    ``.keywords`` holds the arguments under transformers' names and values, and
    ``fn.func(step, *fn.args, **fn.keywords) == fn(step)``. It pickles as a whole (the formula by
    its import path, the arguments as plain values). Its ``__dict__`` stays empty, like the
    ``functools.partial`` transformers uses, so ``LambdaLR.state_dict()`` saves ``{}`` for it and
    ``load_state_dict`` keeps the arguments the scheduler was built with: resuming with a longer
    ``num_training_steps`` takes effect, as it does in transformers.
    """

    def __new__(cls, formula, /, **params):
        _formula_ref(formula)
        plain = {}
        for key, value in params.items():
            value = _plain_number(value)
            if not _plain(value):
                raise TypeError(f"StepFunction parameter {key}={value!r} is not a plain value")
            plain[key] = value
        return super().__new__(cls, _OnFloats(formula), **plain)

    def __reduce__(self):
        return (_restore, (self.func.formula, dict(self.keywords)))

    @property
    def formula(self) -> str:
        """Import string of the formula (``"package.module:function"``)."""
        return _formula_ref(self.func.formula)

    @property
    def params(self) -> dict:
        """A copy of the formula's arguments (the same as ``.keywords``)."""
        return dict(self.keywords)

    def evaluate(self, step, ops):
        """The multiplier at ``step`` computed with another ops namespace (tensors, graphs)."""
        return self.func.formula(step, ops, **self.keywords)

    def __eq__(self, other):
        return type(other) is type(self) and other.func == self.func and other.keywords == self.keywords

    __hash__ = None

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.keywords.items())
        return f"StepFunction({self.formula}{', ' if args else ''}{args})"


def as_scheduler(optimizer, step_function: StepFunction, last_epoch: int = -1):
    """Turn ``step_function`` into the scheduler for ``optimizer``'s framework.

    Args:
        optimizer: a ``torch.optim.Optimizer``, a Keras 3 / tf-keras optimizer, or ``None`` for
            the plain callable.
        step_function: the bound formula.
        last_epoch: index of the last step when resuming (torch only). Defaults to ``-1``.

    Returns ``step_function`` for ``None``, a ``torch.optim.lr_scheduler.LambdaLR`` for torch, and
    for Keras a ``LearningRateSchedule`` (``initial lr * multiplier``) installed as the optimizer's
    ``learning_rate`` (see :mod:`hfopt_core._keras`).
    """
    framework = framework_of(optimizer)
    if framework == "python":
        if last_epoch != -1:
            raise ValueError(f"last_epoch={last_epoch} needs an optimizer; with optimizer=None call the step function at any step")
        return step_function
    if framework == "keras":
        from ._keras import keras_scheduler

        return keras_scheduler(optimizer, step_function, last_epoch)
    from torch.optim.lr_scheduler import LambdaLR

    return LambdaLR(optimizer, step_function, last_epoch=last_epoch)
