"""``AdafactorSchedule``: a proxy scheduler that reports Adafactor's own learning rate.

Adafactor with ``relative_step=True`` computes its step size internally; training loops that
expect a scheduler (transformers' ``Trainer`` logs ``get_last_lr()``) get this proxy. Before the
first optimizer step it reports ``initial_lr``; afterwards each group's ``lr_t`` as
``Adafactor._get_lr`` computes it from the group's first parameter.
"""
from __future__ import annotations

from torch.optim.lr_scheduler import LambdaLR

__all__ = ["AdafactorSchedule", "get_adafactor_schedule"]


class ConstantFactor:
    """Picklable ``step -> initial_lr`` callable (a module-level class, not a closure).

    Args:
        value: the constant returned for every step.
    """

    def __init__(self, value: float):
        self.value = value

    def __call__(self, step):
        return self.value

    def __eq__(self, other):
        return type(other) is type(self) and other.value == self.value

    __hash__ = None

    def __repr__(self):
        return f"ConstantFactor({self.value!r})"


class AdafactorSchedule(LambdaLR):
    """Proxy schedule for :class:`~hfopt_adafactor.Adafactor` (transformers' ``AdafactorSchedule``).

    Args:
        optimizer: the Adafactor optimizer (anything with ``_get_lr(group, state)``).
        initial_lr: what ``get_last_lr()`` reports before the first step: a finite number >= 0
            (numpy scalars and 0-dim tensors too). Defaults to ``0.0``.

    Like transformers, constructing it sets each group's ``lr`` to ``initial_lr`` (ignored by
    Adafactor while ``relative_step=True``) and every ``step()`` writes the reported ``lr_t``
    into the groups. It pickles as a whole (optimizer included) and its ``state_dict()`` holds
    plain data only.
    """

    def __init__(self, optimizer, initial_lr=0.0):
        from hfopt_core.plugin import check_number

        check_number("initial_lr", initial_lr, minimum=0, what="learning rate")  # before any change
        if not hasattr(optimizer, "param_groups"):
            raise TypeError(f"AdafactorSchedule: optimizer must be a torch optimizer, got {type(optimizer).__name__}")
        for group in optimizer.param_groups:
            group["initial_lr"] = initial_lr
        super().__init__(optimizer, ConstantFactor(initial_lr))
        for group in optimizer.param_groups:
            del group["initial_lr"]

    def get_lr(self):
        """Each group's current ``lr_t`` (``initial_lr`` before the optimizer has stepped)."""
        opt = self.optimizer
        lrs = []
        for group in opt.param_groups:
            first = group["params"][0]
            if first.grad is None:
                continue
            state = opt.state.get(first, {})
            if "step" not in state or "RMS" not in state:
                continue  # gradients exist but the optimizer has not stepped yet
            lrs.append(opt._get_lr(group, state))
        if len(lrs) == 0:
            lrs = list(self.base_lrs)
        return lrs


def get_adafactor_schedule(optimizer, initial_lr=0.0):
    """Build an :class:`AdafactorSchedule` (transformers' ``get_adafactor_schedule``).

    Args:
        optimizer: the :class:`~hfopt_adafactor.Adafactor` optimizer to report on.
        initial_lr: reported before the first step. Defaults to ``0.0``.
    """
    return AdafactorSchedule(optimizer, initial_lr)
