"""Checks for :class:`~hfopt_adafactor.Adafactor`: hyperparameters, gradients and saved state.

* :func:`check_group` runs on every parameter group at construction / ``add_param_group``:
  transformers' two errors come first with its exact messages; every other bad value is a
  ``TypeError`` (wrong type) or ``ValueError`` (bad value) in the plugin API's one form
  (``check_number`` / ``argument_error``: ``"<argument> must be <what>, got <value>"``), where
  transformers fails late (or not at all). Numbers may be Python numbers, numpy scalars
  or 0-dim real tensors, as transformers accepts them.
* :func:`check_gradient` and :func:`check_state` run on every parameter before a step changes
  anything (and :func:`check_state` on every ``load_state_dict``), so a mismatched checkpoint
  is a clear error naming the parameter's index, never a crash or scrambled moments.
"""
from __future__ import annotations

import numbers

import torch

from hfopt_core.plugin import argument_error, check_number

#: the bool options, and the options that may also be ``None``
_BOOLS = ("scale_parameter", "relative_step", "warmup_init", "stochastic_rounding")
_OPTIONAL_BOOLS = ("foreach", "fused")
#: the largest step count a state may hold: its next step must fit in an int64 (as torch saves it
#: and as the compiled kernel counts), so a step never fails half-way on an overflow
MAX_STEP = 2**63 - 2


def _is_bool(value) -> bool:
    kind = type(value)
    return isinstance(value, bool) or (kind.__module__ == "numpy" and kind.__name__ in ("bool", "bool_"))


def _integer(name: str, value) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool), else ``TypeError`` naming ``name``."""
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise argument_error(name, "an int", value, wrong_type=True)
    return int(value)


def check_group(group: dict, *, constructing: bool = True) -> None:
    """Raise ``TypeError``/``ValueError`` when a parameter group's hyperparameters are invalid.

    Args:
        group: the merged parameter group (``lr``, ``eps``, ``clip_threshold``, ``decay_rate``,
            ``beta1``, ``weight_decay``, the bool options, ``min_dim_size_to_factor``,
            ``stochastic_rounding_seed``, ``foreach``, ``fused``).
        constructing: ``True`` at construction / ``add_param_group``; ``False`` for a group
            checked again at ``step()`` or ``load_state_dict``, where an ``lr`` beside
            ``relative_step=True`` is allowed and not checked (``AdafactorSchedule`` writes the
            reported rate there, as transformers' does; the step ignores it). Defaults to ``True``.
    """
    for name in _BOOLS:
        if name in group and not _is_bool(group[name]):
            raise argument_error(name, "a bool", group[name], wrong_type=True)
    for name in _OPTIONAL_BOOLS:
        value = group.get(name)
        if value is not None and not _is_bool(value):
            raise argument_error(name, "None or a bool", value, wrong_type=True)

    lr, relative_step = group["lr"], group["relative_step"]
    if lr is not None and relative_step:
        if constructing:
            raise ValueError("Cannot combine manual `lr` and `relative_step=True` options")
        lr = None  # written by a schedule, unused by the step
    if group["warmup_init"] and not relative_step:
        raise ValueError("`warmup_init=True` requires `relative_step=True`")
    if lr is None and not relative_step:
        raise ValueError("`relative_step=False` requires a manual `lr` (got lr=None)")
    check_number("lr", lr, minimum=0, allow_none=True, what="learning rate")

    eps = group["eps"]
    if not isinstance(eps, (tuple, list)) or len(eps) != 2:
        raise argument_error("eps", "a pair (eps1, eps2)", eps, wrong_type=True)
    for i, e in enumerate(eps):
        if i == 0 and e is None:  # no eps1: g**2 as it is
            continue
        check_number(f"eps[{i}]", e, minimum=0)

    check_number("clip_threshold", group["clip_threshold"], positive=True)
    check_number("decay_rate", group["decay_rate"], below=0)  # beta2_t = 1 - t**decay_rate
    check_number("beta1", group["beta1"], minimum=0, below=1, allow_none=True)
    check_number("weight_decay", group["weight_decay"], minimum=0)

    min_dim = group.get("min_dim_size_to_factor")
    if min_dim is not None and _integer("min_dim_size_to_factor", min_dim) < 1:
        raise argument_error("min_dim_size_to_factor", "None or a positive int", min_dim)

    _integer("stochastic_rounding_seed", group.get("stochastic_rounding_seed", 0))


def check_gradient(index: int, p: torch.Tensor, grad: torch.Tensor) -> None:
    """Raise when parameter ``index``'s gradient cannot be stepped (before anything changes).

    Args:
        index: the parameter's position in the optimizer (over all groups).
        p: the parameter.
        grad: its gradient.
    """
    if grad.is_sparse:
        raise RuntimeError("Adafactor does not support sparse gradients.")
    if not p.is_floating_point():
        raise TypeError(f"Adafactor: parameter {index} has dtype {p.dtype}; expected a floating-point dtype")
    if not grad.is_floating_point():
        raise TypeError(f"Adafactor: the gradient of parameter {index} has dtype {grad.dtype}; expected a "
                        f"floating-point dtype")
    if grad.shape != p.shape:
        raise ValueError(f"Adafactor: the gradient of parameter {index} has shape {tuple(grad.shape)}, the "
                         f"parameter {tuple(p.shape)}")
    if grad.device != p.device:
        raise ValueError(f"Adafactor: the gradient of parameter {index} is on {grad.device}, the parameter on "
                         f"{p.device}")


def _expected_shapes(shape: tuple, factored: bool) -> dict:
    if factored:
        return {"exp_avg_sq_row": shape[:-1], "exp_avg_sq_col": shape[:-2] + shape[-1:]}
    return {"exp_avg_sq": shape}


def check_state(index: int, p: torch.Tensor, state: dict, use_first_moment: bool) -> None:
    """Raise ``ValueError`` when a parameter's (loaded) state does not fit the parameter.

    Checked: ``step`` is an int in ``[0, MAX_STEP]`` (``2**63 - 2``: the next step fits in an int64); the second moment is either factored (``exp_avg_sq_row`` of
    shape ``p.shape[:-1]`` and ``exp_avg_sq_col`` of shape ``p.shape[:-2] + p.shape[-1:]``, for
    ``p`` with 2 or more dimensions) or full (``exp_avg_sq`` shaped like ``p``); ``exp_avg``
    (required when the group has ``beta1``) is shaped like ``p``; every moment is a
    floating-point tensor (other floating dtypes and devices are converted, as transformers does).

    Args:
        index: the parameter's position in the optimizer (over all groups), for the message.
        p: the parameter.
        state: its state (non-empty).
        use_first_moment: whether the group has ``beta1`` (so ``exp_avg`` is needed).
    """
    shape = tuple(p.shape)
    where = f"Adafactor state of parameter {index} (shape {shape}, {p.dtype})"
    step = state.get("step")
    if step is None:
        raise ValueError(f"{where}: missing 'step'")
    if _is_bool(step) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError(f"{where}: 'step' must be an int >= 0, got {type(step).__name__} {step!r}")
    if step > MAX_STEP:
        raise ValueError(f"{where}: 'step' {step!r} is too large: at most 2**63 - 2, so that the next step count "
                         f"fits in an int64")
    has_row, has_col = "exp_avg_sq_row" in state, "exp_avg_sq_col" in state
    if has_row or has_col:
        if not (has_row and has_col):
            missing = "exp_avg_sq_col" if has_row else "exp_avg_sq_row"
            raise ValueError(f"{where}: missing '{missing}' (a factored second moment needs both "
                             f"exp_avg_sq_row and exp_avg_sq_col)")
        if len(shape) < 2:
            raise ValueError(f"{where}: a factored second moment (exp_avg_sq_row/col) needs a parameter with 2 or "
                             f"more dimensions")
        expected = _expected_shapes(shape, True)
    elif "exp_avg_sq" in state:
        expected = _expected_shapes(shape, False)
    else:
        raise ValueError(f"{where}: missing the second moment ('exp_avg_sq_row' and 'exp_avg_sq_col', or "
                         f"'exp_avg_sq')")
    if use_first_moment:
        if "exp_avg" not in state:
            raise ValueError(f"{where}: missing 'exp_avg' (the group has beta1)")
        expected["exp_avg"] = shape
    for key, want in expected.items():
        value = state[key]
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{where}: '{key}' must be a tensor, got {type(value).__name__}")
        if tuple(value.shape) != want:
            raise ValueError(f"{where}: '{key}' has shape {tuple(value.shape)} ({value.dtype}), expected {want}")
        if not value.is_floating_point():
            raise ValueError(f"{where}: '{key}' has dtype {value.dtype} (shape {tuple(value.shape)}), expected a "
                             f"floating-point dtype")
