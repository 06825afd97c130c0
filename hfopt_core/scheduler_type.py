"""``SchedulerType``: the schedule names of ``transformers.trainer_utils.SchedulerType`` (5.x)."""
from __future__ import annotations

from enum import Enum


class SchedulerType(str, Enum):
    """Names of the built-in schedules; ``get_scheduler`` also takes any registered string.

    A ``str`` enum with transformers' members and values (``SchedulerType("cosine")`` works,
    an unknown value raises ``ValueError`` listing the valid ones).
    """

    LINEAR = "linear"
    COSINE = "cosine"
    COSINE_WITH_RESTARTS = "cosine_with_restarts"
    POLYNOMIAL = "polynomial"
    CONSTANT = "constant"
    CONSTANT_WITH_WARMUP = "constant_with_warmup"
    INVERSE_SQRT = "inverse_sqrt"
    REDUCE_ON_PLATEAU = "reduce_lr_on_plateau"
    COSINE_WITH_MIN_LR = "cosine_with_min_lr"
    COSINE_WARMUP_WITH_MIN_LR = "cosine_warmup_with_min_lr"
    WARMUP_STABLE_DECAY = "warmup_stable_decay"
    GREEDY = "greedy"

    @classmethod
    def _missing_(cls, value):
        raise ValueError(
            f"{value} is not a valid {cls.__name__}, please select one of {[m.value for m in cls]}")

    def __str__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    def __format__(self, spec: str) -> str:  # the same on every Python version
        return format(str(self), spec)
