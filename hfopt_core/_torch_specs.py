"""torch schedulers built from specs: they record the spec and the horizon in their ``state_dict``.

Imported only when ``get_scheduler`` is given a spec and a torch optimizer (it imports torch).

* :class:`SpecLambdaLR`: a ``LambdaLR`` over the spec's step function (one per group with
  ``per_group=True``).
* :class:`PhasedMetricScheduler`: closed-form phases, then a metric-driven phase
  (``reduce_lr_on_plateau``, ``greedy``) in one scheduler. A ``ReduceLROnPlateau`` subclass, so
  Lightning's ``monitor`` passes the metric to every ``step``.

Loading a state saved with another spec or horizon raises a ``ValueError`` saying what changed;
``load_state_dict(state, allow_changed_spec=True)`` continues from the saved step on the new ones.
"""
from __future__ import annotations

import json

from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

__all__ = ["PhasedMetricScheduler", "SpecLambdaLR", "check_same_spec"]


def _text(spec) -> str:
    return json.dumps(spec, sort_keys=True, default=repr)


def check_same_spec(saved_spec, saved_horizon, spec, horizon) -> None:
    """Raise ``ValueError`` saying what changed when a saved spec/horizon differs from the current one.

    A state without a recorded spec (saved by a scheduler built from a name) is not compared.
    """
    changes = []
    if saved_horizon != horizon:
        changes.append(f"num_training_steps was {saved_horizon}, is now {horizon}")
    if saved_spec is not None and _text(saved_spec) != _text(spec):
        changes.append(f"the spec was {_text(saved_spec)}, is now {_text(spec)}")
    if changes:
        raise ValueError("this scheduler state was saved with another schedule: " + "; ".join(changes)
                         + ". To continue from the saved step on this scheduler's spec and horizon, call "
                         "load_state_dict(state, allow_changed_spec=True); otherwise build the scheduler "
                         "with the saved spec and num_training_steps.")


class SpecLambdaLR(LambdaLR):
    """A ``LambdaLR`` built from a spec, whose state records the spec and the horizon.

    Args:
        optimizer: the torch optimizer.
        lr_lambda: the spec's step function, or one per parameter group.
        last_epoch: the index of the last step when resuming. Defaults to ``-1``.
        spec: the canonical spec (:func:`hfopt_core.specs.normalize_spec`). Keyword only.
        horizon: ``num_training_steps`` of the run. Keyword only.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch=-1, *, spec, horizon):
        self.spec, self.horizon = spec, horizon
        super().__init__(optimizer, lr_lambda, last_epoch)

    def load_state_dict(self, state_dict, allow_changed_spec: bool = False) -> None:
        """Restore a state; ``ValueError`` when it was saved with another spec or horizon.

        Args:
            state_dict: what :meth:`state_dict` returned.
            allow_changed_spec: continue from the saved step on this scheduler's own spec and
                horizon instead of raising. Defaults to ``False``.
        """
        state = dict(state_dict)
        saved_spec, saved_horizon = state.pop("spec", None), state.pop("horizon", self.horizon)
        if not allow_changed_spec:
            check_same_spec(saved_spec, saved_horizon, self.spec, self.horizon)
        super().load_state_dict(state)


class PhasedMetricScheduler(ReduceLROnPlateau):
    """Closed-form phases followed by a metric-driven phase, in one scheduler.

    ``step()`` (or ``step(metric)``) advances the closed-form phases: the lr of group g at step t
    is its initial lr times phase function g at t. When the metric phase begins, each group's lr
    returns to its initial lr and the metric scheduler (built through the registry from the
    phase's arguments) takes over: from then on every ``step(metric)`` goes to it. ``state_dict``
    holds the step, the spec, the horizon and the metric scheduler's own state, so resuming in the
    middle of any phase continues exactly.

    Args:
        optimizer: the torch optimizer.
        functions: one step function per group for the closed-form phases (``None`` when there are none).
        start: the step at which the metric phase begins.
        metric_phase: the canonical mapping of the last phase (its name and arguments).
        spec: the canonical phase list. Keyword only.
        horizon: ``num_training_steps`` of the run. Keyword only.
    """

    def __init__(self, optimizer, functions, start, metric_phase, *, spec, horizon):  # noqa: D107
        # ReduceLROnPlateau.__init__ is not called: this class only borrows its type (what
        # Lightning checks) and keeps its own state.
        self.optimizer = optimizer
        self.functions = list(functions)
        self.start = int(start)
        self.metric_phase = dict(metric_phase)
        self.spec, self.horizon = spec, horizon
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self.metric_scheduler = None
        self._check_metric_phase()
        self._apply(0)

    def _check_metric_phase(self):
        from .manager import get_manager

        get_manager().lookup("schedule", self.metric_phase["name"], "torch")

    def _arguments(self) -> dict:
        return {k: v for k, v in self.metric_phase.items() if k not in ("name", "steps", "per_group")}

    def _begin_metric_phase(self):
        for group, lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = lr
        self.metric_scheduler = self._build_metric_scheduler()

    def _build_metric_scheduler(self):
        from ._build import build_named

        return build_named(self.metric_phase["name"], self.optimizer,
                           scheduler_specific_kwargs=self._arguments() or None)

    def _apply(self, step):
        if step < self.start:
            for group, lr, fn in zip(self.optimizer.param_groups, self.base_lrs, self.functions):
                group["lr"] = lr * fn(step)
        elif self.metric_scheduler is None:
            self._begin_metric_phase()
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    @property
    def in_metric_phase(self) -> bool:
        """Whether the metric-driven phase has begun."""
        return self.metric_scheduler is not None

    def step(self, metrics=None, epoch=None):  # noqa: D102 - documented in the class
        if epoch is not None:
            raise ValueError("epoch is not supported: the scheduler counts its own steps")
        if self.metric_scheduler is not None:
            if metrics is None:
                raise TypeError(f"the {self.metric_phase['name']!r} phase has begun: call scheduler.step(metric)")
            self.last_epoch += 1
            self.metric_scheduler.step(metrics)
            self._last_lr = [group["lr"] for group in self.optimizer.param_groups]
            return
        self.last_epoch += 1
        self._apply(self.last_epoch)

    def get_last_lr(self):
        """The lr of each group after the last step."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """The step, base lrs, spec, horizon and the metric scheduler's state (plain data)."""
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs), "start": self.start,
                "spec": self.spec, "horizon": self.horizon, "_last_lr": list(self._last_lr),
                "metric_scheduler": None if self.metric_scheduler is None else self.metric_scheduler.state_dict()}

    def load_state_dict(self, state_dict, allow_changed_spec: bool = False) -> None:
        """Restore a state saved by :meth:`state_dict` (see :class:`SpecLambdaLR` for ``allow_changed_spec``)."""
        if not allow_changed_spec:
            check_same_spec(state_dict.get("spec"), state_dict.get("horizon"), self.spec, self.horizon)
        self.last_epoch = int(state_dict["last_epoch"])
        self.base_lrs = list(state_dict["base_lrs"])
        self._last_lr = list(state_dict["_last_lr"])
        inner = state_dict.get("metric_scheduler")
        if inner is None:
            self.metric_scheduler = None
        else:
            self.metric_scheduler = self._build_metric_scheduler()
            self.metric_scheduler.load_state_dict(inner)

    def __repr__(self):
        return f"PhasedMetricScheduler(start={self.start}, metric_phase={self.metric_phase!r})"
