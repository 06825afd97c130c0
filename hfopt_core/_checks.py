"""Argument checks for every plugin, torch and TF alike (part of the plugin API, :mod:`hfopt_core.plugin`).

One message form: the argument, what it must be, the value received::

    num_warmup_steps must be a non-negative number of steps, got -5
    beta1 must be a number in [0, 1), got 1.5
    lr must be a real number (learning rate), got str '1e-3'

:func:`check_number` checks (and converts) a numeric argument; :func:`argument_error` builds the
same message for any other rule (a choice, a shape). Checks raise before anything is built or
modified: ``ValueError`` for a bad value, ``TypeError`` for a wrong type. Numbers come back as
plain Python numbers: numpy scalars, 0-d numpy arrays and 0-d tensors (accepted wherever
transformers accepts a number) are converted once, so step functions hold plain values only.
"""
from __future__ import annotations

import math
import numbers
import sys


def plain_number(value):
    """``value`` as a Python ``int``/``float`` when it is a numpy scalar or a 0-d array/tensor; else unchanged.

    Integer dtypes become ``int``, floating ones ``float``; Python numbers, ``bool`` and
    non-numeric values are returned as they are. Never imports numpy or torch.
    """
    if type(value) in (int, float, bool) or value is None:
        return value
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        value = value.item()
        if isinstance(value, complex):
            return value
    elif isinstance(value, bool):
        return value
    elif isinstance(value, numbers.Integral):
        return int(value)
    elif isinstance(value, numbers.Real):
        return float(value)
    return value


def _describe(value) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, (int, float)):
        return f"{type(value).__name__} of shape {tuple(shape)}"
    return f"{type(value).__name__} {value!r}"


def argument_error(name: str, requirement: str, value, *, wrong_type: bool = False) -> Exception:
    """The error for argument ``name``: ``"<name> must be <requirement>, got <value>"``.

    Args:
        name: the argument's name (``"betas[0]"`` for an element).
        requirement: what it must be (``"'min' or 'max'"``, ``"a number in [0, 1)"``).
        value: the value received (shown with its ``repr``; arrays and tensors by type and shape).
        wrong_type: return a ``TypeError`` instead of a ``ValueError``. Defaults to ``False``.

    Returns the exception for the caller to raise (``raise argument_error(...)``), so tracebacks
    point at the check.
    """
    got = _describe(value) if wrong_type else _show(value)
    return (TypeError if wrong_type else ValueError)(f"{name} must be {requirement}, got {got}")


_LARGEST_FLOAT = sys.float_info.max


class _ShortInt(int):
    """An int shown by its size when its repr would be long (``10**400`` is 401 digits)."""

    def __repr__(self) -> str:
        text = int.__repr__(self)
        digits = text.lstrip("-")
        sign = text[:len(text) - len(digits)]
        return text if len(text) <= 40 else f"an integer of {len(digits)} digits ({sign}{digits[:12]}...)"


def _show(value) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None and tuple(shape) != () and not isinstance(value, (int, float)):
        return _describe(value)
    return repr(value)


def _requirement(what: str, minimum, positive: bool, maximum, below) -> str:
    """``"a non-negative number of steps"``, ``"a number in [0, 1)"``, ``"a positive count"``..."""
    upper = below if below is not None else maximum
    if upper is None:
        if positive:
            return f"a positive {what}"
        if minimum is not None:
            return f"a non-negative {what}" if minimum == 0 else f"a >= {minimum} {what}"
        return f"a finite {what}"
    if minimum is None and not positive:
        return f"a {what} {'<' if below is not None else '<='} {upper}"
    low = "(0" if positive and (minimum is None or minimum <= 0) else f"[{minimum}"
    return f"a {what} in {low}, {upper}{')' if below is not None else ']'}"


def check_number(name: str, value, *, minimum=None, positive: bool = False, integer: bool = False,
                 allow_none: bool = False, what: str = "number", maximum=None, below=None):
    """Check one numeric argument and return it as a plain ``int``/``float``.

    Args:
        name: the argument's name, for the message.
        value: the value given (a Python number, numpy scalar or 0-d tensor).
        minimum: smallest allowed value (inclusive). Defaults to ``None`` (no bound).
        positive: require ``value > 0``. Defaults to ``False``.
        integer: require an integral type (``int``, numpy integer, integer 0-d tensor). Defaults to ``False``.
        allow_none: let ``None`` through unchanged. Defaults to ``False``.
        what: the noun of the message (``"number of steps"``). Defaults to ``"number"``.
        maximum: largest allowed value (inclusive). Defaults to ``None`` (no bound).
        below: the value must be smaller than this (exclusive bound, ``below=1`` for a decay rate).
            Defaults to ``None``.

    Raises ``TypeError`` for a non-number (``bool``, ``str``, a tensor with several elements, ...)
    and ``ValueError`` for NaN, infinity or a value out of range, each in the form of
    :func:`argument_error` (``"beta1 must be a number in [0, 1), got 1.5"``).
    """
    if value is None and allow_none:
        return None
    converted = plain_number(value)
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(converted, bool) or not isinstance(converted, kind):
        raise argument_error(name, f"{'an int' if integer else 'a real number'} ({what})", value, wrong_type=True)
    converted = int(converted) if isinstance(converted, numbers.Integral) else float(converted)
    requirement = _requirement(what, minimum, positive, maximum, below)
    if isinstance(converted, int) and abs(converted) > _LARGEST_FLOAT:  # every use of a number does float math
        raise argument_error(name, f"a {what} within float range (magnitude <= {_LARGEST_FLOAT:.3g})",
                             _ShortInt(converted))
    if isinstance(converted, float) and not math.isfinite(converted):
        raise argument_error(name, f"a finite {what}", converted)
    if ((positive and not converted > 0) or (minimum is not None and converted < minimum)
            or (maximum is not None and converted > maximum) or (below is not None and not converted < below)):
        raise argument_error(name, requirement, converted)
    return converted


def check_steps(**steps) -> tuple:
    """Check step counts: finite, non-negative real numbers (``None`` passes through).

    Returns the values, converted to plain numbers, as a tuple in the order given::

        num_warmup_steps, num_training_steps = check_steps(num_warmup_steps=w, num_training_steps=t)

    Raises ``TypeError`` for a non-number and ``ValueError`` for NaN, infinity or a negative count,
    naming the argument and the value.
    """
    return tuple(check_number(name, value, minimum=0, allow_none=True, what="number of steps")
                 for name, value in steps.items())


def check_last_epoch(last_epoch) -> int:
    """``last_epoch`` as an ``int`` >= -1 (the index of the last step when resuming)."""
    return check_number("last_epoch", last_epoch, minimum=-1, integer=True, what="step index")


def initial_lr(optimizer, lr_init=None, *, needed_for: str) -> float:
    """The optimizer's initial learning rate (``optimizer.defaults["lr"]``, as transformers reads it).

    With ``optimizer=None`` the caller must pass ``lr_init`` (a positive number); passing both is
    an error. A tensor learning rate is read as a Python float.
    """
    if optimizer is None:
        if lr_init is None:
            raise ValueError(f"{needed_for} needs the initial learning rate: with optimizer=None pass lr_init=")
        return check_number("lr_init", lr_init, positive=True, what="learning rate")
    if lr_init is not None:
        raise ValueError("lr_init is only for optimizer=None; the optimizer's defaults['lr'] is used otherwise")
    if not isinstance(getattr(optimizer, "defaults", None), dict):
        from .frameworks import is_keras_optimizer

        if is_keras_optimizer(optimizer):  # a Keras optimizer: its float learning_rate
            from ._keras_lr import initial_learning_rate

            return check_number("optimizer.learning_rate", initial_learning_rate(optimizer), minimum=0,
                                what="learning rate")
    lr = optimizer.defaults.get("lr") if isinstance(getattr(optimizer, "defaults", None), dict) else None
    return check_number("optimizer.defaults['lr']", lr, minimum=0, what="learning rate")


def min_lr_rate_of(optimizer, min_lr, min_lr_rate, lr_init=None) -> float:
    """The minimum rate from exactly one of ``min_lr`` (absolute) and ``min_lr_rate`` (ratio).

    Raises transformers' ``ValueError`` messages when both or neither are given, and a
    ``ValueError``/``TypeError`` naming the argument for a negative, NaN, infinite or non-numeric one.
    """
    if min_lr is not None and min_lr_rate is not None:
        raise ValueError("Only one of min_lr or min_lr_rate should be set")
    if min_lr is not None:
        min_lr = check_number("min_lr", min_lr, minimum=0, what="learning rate")
        lr = initial_lr(optimizer, lr_init, needed_for="min_lr")
        if lr == 0:
            raise ValueError(f"min_lr={min_lr!r} needs a positive initial learning rate, got {lr!r}")
        return min_lr / lr
    if min_lr_rate is None:
        raise ValueError("One of min_lr or min_lr_rate should be set through the `lr_scheduler_kwargs`")
    if lr_init is not None:
        raise ValueError("lr_init is only needed with min_lr and optimizer=None")
    return check_number("min_lr_rate", min_lr_rate, minimum=0, what="ratio")
