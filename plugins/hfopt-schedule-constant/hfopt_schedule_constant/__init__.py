"""A constant learning rate: transformers' ``get_constant_schedule``. Multiplier: ``1`` at every step."""
from __future__ import annotations

from hfopt_core.plugin import StepFunction, as_scheduler, check_last_epoch

__all__ = ["constant_multiplier", "get_constant_schedule"]


def constant_multiplier(step, ops):
    """``1.0`` whatever the step."""
    return 1.0


def get_constant_schedule(optimizer, last_epoch=-1):
    """Keep the learning rate set in the optimizer.

    Args:
        optimizer: the ``torch.optim.Optimizer`` to schedule, or ``None`` for a plain
            ``step -> multiplier`` callable.
        last_epoch: index of the last step when resuming. Defaults to ``-1``.

    Returns a ``torch.optim.lr_scheduler.LambdaLR`` (or the step function for ``optimizer=None``).
    """
    return as_scheduler(optimizer, StepFunction(constant_multiplier), check_last_epoch(last_epoch))
