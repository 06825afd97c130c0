"""Linear warmup, then exponential decay (an example third-party schedule).

Multiplier at step ``t`` with ``W`` warmup steps and half-life ``h``::

    t < W:  t / max(1, W)
    else:   0.5 ** ((t - W) / h)
"""
from hfopt_core.formulas import warmup_then
from hfopt_core.schedules import StepFunction, as_scheduler, check_steps


def exponential_multiplier(step, ops, *, num_warmup_steps, half_life):
    """The multiplier at ``step`` (formula in the module docstring)."""
    decay = ops.pow(0.5, ops.to_float(ops.maximum(step, num_warmup_steps) - num_warmup_steps) / half_life)
    return warmup_then(step, ops, num_warmup_steps, decay)


def get_exponential_schedule(optimizer, num_warmup_steps, half_life=1000.0, last_epoch=-1):
    """Linear warmup, then halve the learning rate every ``half_life`` steps.

    Args:
        optimizer: a ``torch.optim.Optimizer``, or ``None`` for a plain ``step -> multiplier``.
        num_warmup_steps: steps of the warmup phase.
        half_life: steps per halving, positive. Defaults to ``1000.0``.
        last_epoch: index of the last step when resuming. Defaults to ``-1``.
    """
    check_steps(num_warmup_steps=num_warmup_steps)
    if not half_life > 0:
        raise ValueError(f"half_life must be positive, got {half_life!r}")
    fn = StepFunction(exponential_multiplier, num_warmup_steps=num_warmup_steps, half_life=half_life)
    return as_scheduler(optimizer, fn, last_epoch)
