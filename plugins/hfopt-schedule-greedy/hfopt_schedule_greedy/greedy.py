"""``GreedyLR``: raise the learning rate while a metric keeps improving, lower it when it plateaus.

Per step, after ``cooldown``/``warmup`` waits: an improvement (by more than ``threshold``) counts a
good epoch, anything else a bad one. More than ``patience`` good epochs in a row divide each
group's lr by ``factor`` (capped at ``max_lr``), more than ``patience`` bad ones multiply it by
``factor`` (floored at ``min_lr``). After ``reset_start`` reductions with every group at its
floor, everything returns to the initial state. Behaviour and state keys follow transformers 5.x.

Differences from transformers 5.x: a NaN or infinite metric is ignored (the step is not counted,
no counter moves, the smoothing window does not take it), where transformers lets it poison the
running best or the streaming average for good; every argument is validated at construction; a
tensor learning rate is updated in place.
"""
from __future__ import annotations

import math

from hfopt_core.plugin import check_number


class StreamingAverage:
    """Mean of the last ``window_size`` values.

    Args:
        window_size: how many recent values the mean covers.
    """

    def __init__(self, window_size: int) -> None:
        self.window_size = window_size
        self.values: list[float] = []
        self.sum = 0.0

    def streamavg(self, value: float) -> float:
        """Add ``value`` and return the mean of the window."""
        self.values.append(value)
        self.sum += value
        if len(self.values) > self.window_size:
            self.sum -= self.values.pop(0)
        return self.sum / len(self.values)

    def state_dict(self) -> dict:
        """The window as plain data."""
        return {"window_size": self.window_size, "values": list(self.values), "sum": self.sum}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the window saved by :meth:`state_dict`."""
        self.window_size = state_dict.get("window_size", self.window_size)
        self.values = list(state_dict.get("values", []))
        self.sum = state_dict.get("sum", 0.0)


def _per_group(value, groups: int, what: str) -> list[float]:
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(f"expected {groups} {what}s, got {len(value)}")
        return [check_number(f"{what}[{i}]", v, minimum=0, what="learning rate") for i, v in enumerate(value)]
    return [check_number(what, value, minimum=0, what="learning rate")] * groups


def _set_lr(group, value) -> None:
    if hasattr(group["lr"], "fill_"):
        group["lr"].fill_(value)
    else:
        group["lr"] = value


class GreedyLR:
    """Adaptive learning-rate scheduler driven by a metric (transformers' ``GreedyLR``).

    Args:
        optimizer: the ``torch.optim.Optimizer`` whose groups' ``lr`` it adjusts.
        mode: ``"min"`` (lower metric is better) or ``"max"``. Defaults to ``"min"``.
        factor: multiplier on plateau, divisor on improvement, in (0, 1). Defaults to ``0.95``.
        patience: good or bad epochs tolerated before acting. Defaults to ``10``.
        threshold: minimal change that counts as improvement. Defaults to ``1e-6``.
        threshold_mode: ``"abs"`` or ``"rel"``. Defaults to ``"abs"``.
        cooldown: epochs to wait after a reduction. Defaults to ``0``.
        warmup: epochs to wait after an increase. Defaults to ``0``.
        min_lr: floor, one value or one per group. Defaults to ``1e-3``.
        max_lr: cap, one value or one per group. Defaults to ``1.0``.
        eps: changes smaller than this are not applied. Defaults to ``1e-8``.
        verbose: print each change. Defaults to ``False``.
        smooth: feed a streaming average of the metric instead of the metric. Defaults to ``False``.
        window_size: the streaming average's window. Defaults to ``50``.
        reset_start: reductions at the floor before resetting to the initial state. Defaults to ``500``.

    Use: ``scheduler.step(val_loss)`` once per evaluation.
    """

    def __init__(self, optimizer, mode="min", factor=0.95, patience=10, threshold=1e-6, threshold_mode="abs",
                 cooldown=0, warmup=0, min_lr=1e-3, max_lr=1.0, eps=1e-8, verbose=False, smooth=False,
                 window_size=50, reset_start=500):
        from torch.optim import Optimizer

        factor = check_number("factor", factor)
        if factor >= 1.0:
            raise ValueError(f"Factor should be < 1.0. (factor={factor!r})")
        if factor <= 0.0:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        groups = len(optimizer.param_groups)
        self.min_lrs = _per_group(min_lr, groups, "min_lr")
        self.max_lrs = _per_group(max_lr, groups, "max_lr")
        for i, (low, high) in enumerate(zip(self.min_lrs, self.max_lrs)):
            if low > high:
                raise ValueError(f"min_lr ({low!r}) must not exceed max_lr ({high!r}) for group {i}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode {mode} is unknown!")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold mode {threshold_mode} is unknown!")
        patience, cooldown, warmup = (check_number(name, value, minimum=0, integer=True, what="count")
                                      for name, value in (("patience", patience), ("cooldown", cooldown),
                                                          ("warmup", warmup)))
        window_size = check_number("window_size", window_size, minimum=1, integer=True, what="count")
        reset_start = check_number("reset_start", reset_start, minimum=1, integer=True, what="count")
        threshold = check_number("threshold", threshold, minimum=0)
        eps = check_number("eps", eps, minimum=0)

        self.optimizer = optimizer
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode, self.eps = threshold, threshold_mode, eps
        self.cooldown, self.warmup, self.verbose = cooldown, warmup, verbose
        self.smooth, self.window_size = smooth, window_size
        self.reset_start = self.reset_start_original = reset_start
        self.last_epoch = 0
        self._init_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        self._last_lr = list(self._init_lrs)
        self._streaming_avg = StreamingAverage(window_size) if smooth else None
        self._clear_counters()

    def _clear_counters(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.num_bad_epochs = self.num_good_epochs = 0
        self.cooldown_counter = self.warmup_counter = 0

    def is_better(self, current: float, best: float) -> bool:
        """Whether ``current`` improves on ``best`` under ``mode`` and ``threshold``."""
        if self.mode == "min":
            bound = best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold
            return current < bound
        bound = best * (1.0 + self.threshold) if self.threshold_mode == "rel" else best + self.threshold
        return current > bound

    def step(self, metrics, epoch=None) -> None:
        """Adjust the learning rates after one evaluation.

        Args:
            metrics: the metric value (anything ``float()`` accepts, a 0-dim tensor included).
                A NaN or infinite value is ignored: nothing changes, the step is not counted.
            epoch: the epoch number. Defaults to the previous one plus 1.
        """
        current = float(metrics)
        if not math.isfinite(current):
            return
        if self._streaming_avg is not None:
            current = self._streaming_avg.streamavg(current)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch

        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = self.num_good_epochs = 0
        elif self.warmup_counter > 0:
            self.warmup_counter -= 1
            self.num_bad_epochs = self.num_good_epochs = 0
        else:
            if self.is_better(current, self.best):
                self.best = current
                self.num_bad_epochs, self.num_good_epochs = 0, self.num_good_epochs + 1
            else:
                self.num_bad_epochs, self.num_good_epochs = self.num_bad_epochs + 1, 0
            if self.num_good_epochs > self.patience:
                self._increase_lr()
                self.warmup_counter, self.num_good_epochs = self.warmup, 0
            elif self.num_bad_epochs > self.patience:
                self._reduce_lr()
                self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [float(group["lr"]) for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        all_at_min = True
        for i, group in enumerate(self.optimizer.param_groups):
            old = float(group["lr"])
            new = max(old * self.factor, self.min_lrs[i])
            if old - new > self.eps:
                _set_lr(group, new)
                self._say(f"reducing learning rate of group {i} to {new:.4e}.")
            all_at_min = all_at_min and not float(group["lr"]) > self.min_lrs[i]
        if all_at_min:
            self.reset_start -= 1
            if self.reset_start <= 0:
                self._reset()

    def _increase_lr(self) -> None:
        for i, group in enumerate(self.optimizer.param_groups):
            old = float(group["lr"])
            new = min(old / self.factor, self.max_lrs[i])
            if new - old > self.eps:
                _set_lr(group, new)
                self._say(f"increasing learning rate of group {i} to {new:.4e}.")
        self.reset_start = self.reset_start_original

    def _reset(self) -> None:
        for group, lr in zip(self.optimizer.param_groups, self._init_lrs):
            _set_lr(group, lr)
        self._clear_counters()
        self.reset_start = self.reset_start_original
        if self._streaming_avg is not None:
            self._streaming_avg = StreamingAverage(self.window_size)
        if self.verbose:
            print("Scheduler reset to initial state.")

    def _say(self, message: str) -> None:
        if self.verbose:
            print(f"Epoch {self.last_epoch}: {message}")

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group after the last step."""
        return self._last_lr

    _STATE = ("factor", "min_lrs", "max_lrs", "patience", "verbose", "cooldown", "warmup", "cooldown_counter",
              "warmup_counter", "mode", "threshold", "threshold_mode", "best", "num_bad_epochs", "num_good_epochs",
              "eps", "last_epoch", "smooth", "window_size", "reset_start", "reset_start_original", "_last_lr",
              "_init_lrs")

    def state_dict(self) -> dict:
        """The scheduler's state as plain data (transformers' keys)."""
        state = {key: getattr(self, key) for key in self._STATE}
        if self._streaming_avg is not None:
            state["_streaming_avg"] = self._streaming_avg.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state saved by :meth:`state_dict` and put its learning rates on the optimizer."""
        for key in self._STATE:
            if key in state_dict:
                setattr(self, key, state_dict[key])
        if "_streaming_avg" in state_dict:
            if self._streaming_avg is None:
                self._streaming_avg = StreamingAverage(self.window_size)
            self._streaming_avg.load_state_dict(state_dict["_streaming_avg"])
        if "_last_lr" in state_dict:
            for group, lr in zip(self.optimizer.param_groups, self._last_lr):
                _set_lr(group, lr)
