"""``Scheduler``: a registry schedule as a torch ``LRScheduler`` class, for configs that name class paths.

LightningCLI (``lr_scheduler: {class_path: hfopt_core.torch.Scheduler, init_args: {...}}``),
jsonargparse and Hydra (``_target_: hfopt_core.torch.Scheduler``) build schedulers from a class
path and keyword arguments; :class:`Scheduler` takes a schedule name or spec and builds it through
:func:`hfopt_core.get_scheduler`. This module imports torch; ``import hfopt_core`` does not import it.
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

import torch
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

from .api import get_scheduler
from .scheduler_type import SchedulerType

__all__ = ["MetricScheduler", "Scheduler"]

#: What ``spec`` may be: a name, a mapping ``{"name": ..., **arguments}``, or a list of phases.
Spec = Union[str, Mapping[str, Any], Sequence[Mapping[str, Any]]]


def plain_spec(spec):
    """``spec`` as plain data: mappings become ``dict``, sequences ``list``, a ``SchedulerType`` its value.

    Config systems hand over their own containers (Hydra's ``DictConfig``/``ListConfig``,
    jsonargparse's ``Namespace``-free dicts); the scheduler records plain data in its
    ``state_dict`` so a checkpoint holds no config-library objects.
    """
    if isinstance(spec, SchedulerType):
        return spec.value
    if isinstance(spec, Mapping):
        return {key: plain_spec(value) for key, value in spec.items()}
    if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        return [plain_spec(item) for item in spec]
    return spec


class Scheduler(LRScheduler):
    """Any registered schedule (by name or spec) as a ``torch.optim.lr_scheduler.LRScheduler``.

    Args:
        optimizer: the ``torch.optim.Optimizer`` whose learning rates it drives.
        spec: a schedule name (``"cosine"``, any registered name or alias), a mapping
            ``{"name": ..., **arguments}`` or a list of phases, as :func:`hfopt_core.get_scheduler`
            accepts them.
        num_warmup_steps: warmup steps. Defaults to ``None``.
        num_training_steps: total optimizer updates. Defaults to ``None``.
        scheduler_specific_kwargs: extra arguments of the schedule. Defaults to ``None``.

    Call ``step()`` once per optimizer update (``interval: step`` in Lightning); a metric-driven
    schedule takes ``step(metric)``. The scheduler that ``get_scheduler`` builds is ``.scheduler``;
    this class forwards to it and mirrors its ``last_epoch`` and last learning rates. It pickles, and
    its ``state_dict`` records the spec and step counts beside the built scheduler's state:
    :meth:`load_state_dict` refuses a state saved for another spec or horizon (``ValueError``
    naming what changed).

    When what ``get_scheduler`` builds follows a metric (``reduce_lr_on_plateau``, ``greedy``, or a
    list of phases ending in one), the instance is a :class:`MetricScheduler`, which Lightning
    recognises as a ``ReduceLROnPlateau`` and steps with the ``monitor`` metric.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, spec: Spec, num_warmup_steps: Optional[int] = None,
                 num_training_steps: Optional[int] = None,
                 scheduler_specific_kwargs: Optional[dict[str, Any]] = None) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}: {optimizer!r}")
        self.spec = plain_spec(spec)
        self.num_warmup_steps = num_warmup_steps
        self.num_training_steps = num_training_steps
        self.scheduler_specific_kwargs = (None if scheduler_specific_kwargs is None
                                          else plain_spec(scheduler_specific_kwargs))
        self.scheduler = get_scheduler(self.spec, optimizer, num_warmup_steps=num_warmup_steps,
                                       num_training_steps=num_training_steps,
                                       scheduler_specific_kwargs=self.scheduler_specific_kwargs)
        if type(self) is Scheduler and isinstance(self.scheduler, ReduceLROnPlateau):
            # what was built follows a metric: become the ReduceLROnPlateau type Lightning looks for
            # (same attributes; the class only adds that base)
            self.__class__ = MetricScheduler
        self.optimizer = optimizer
        self.base_lrs = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
        self._step_count = getattr(self.scheduler, "_step_count", 1)
        self._sync()

    def _sync(self) -> None:
        self.last_epoch = self.scheduler.last_epoch
        self._last_lr = list(self.scheduler.get_last_lr())

    def step(self, *args, **kwargs) -> None:
        """Advance one optimizer update (``step(metric)`` for a metric-driven schedule)."""
        self.scheduler.step(*args, **kwargs)
        self._step_count += 1
        self._sync()

    def get_lr(self) -> list:
        """The learning rates of the current step, as the built scheduler computes them."""
        return self.scheduler.get_last_lr()

    def _config(self) -> dict:
        return {"spec": self.spec, "num_warmup_steps": self.num_warmup_steps,
                "num_training_steps": self.num_training_steps,
                "scheduler_specific_kwargs": self.scheduler_specific_kwargs}

    def state_dict(self) -> dict[str, Any]:
        """``{"spec", "num_warmup_steps", "num_training_steps", "scheduler_specific_kwargs", "scheduler"}``:
        how it was built and the built scheduler's own ``state_dict``."""
        return {**self._config(), "scheduler": self.scheduler.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any], allow_changed_spec: bool = False) -> None:
        """Restore a :meth:`state_dict`.

        Args:
            state_dict: what :meth:`state_dict` returned.
            allow_changed_spec: continue from the saved step on this scheduler's own spec and step
                counts instead of raising a ``ValueError`` that names each setting that differs.
                Defaults to ``False``.
        """
        if not isinstance(state_dict, Mapping) or "scheduler" not in state_dict:
            keys = sorted(state_dict) if isinstance(state_dict, Mapping) else "-"
            raise TypeError(f"state_dict must be a mapping saved by Scheduler.state_dict(), got "
                            f"{type(state_dict).__name__} with keys {keys}")
        changed = [f"{key}: saved {state_dict.get(key)!r}, now {value!r}"
                   for key, value in self._config().items() if key in state_dict and state_dict[key] != value]
        if changed and not allow_changed_spec:
            raise ValueError("this Scheduler was built differently from the one saved: " + "; ".join(changed)
                             + ". Build it with the saved settings to resume, or call "
                               "load_state_dict(state, allow_changed_spec=True) to continue from the saved step "
                               "on this scheduler's settings")
        inner = self.scheduler.load_state_dict
        if allow_changed_spec and "allow_changed_spec" in inspect.signature(inner).parameters:
            inner(state_dict["scheduler"], allow_changed_spec=True)
        else:
            inner(state_dict["scheduler"])
        self._sync()

    def __repr__(self) -> str:
        return (f"Scheduler(spec={self.spec!r}, num_warmup_steps={self.num_warmup_steps!r}, "
                f"num_training_steps={self.num_training_steps!r}, last_epoch={self.last_epoch})")


class MetricScheduler(Scheduler, ReduceLROnPlateau):
    """A :class:`Scheduler` whose schedule, or last phase, follows a metric: step it with ``step(metric)``.

    ``Scheduler(optimizer, spec, ...)`` is one when what it builds is a ``ReduceLROnPlateau`` (same
    arguments). Being a ``ReduceLROnPlateau`` is what tells Lightning to pass the ``monitor``
    metric to ``step``; everything else is :class:`Scheduler`'s.
    """
