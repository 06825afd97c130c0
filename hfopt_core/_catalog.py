"""What each hfopt distribution provides, so errors can say what to ``pip install``.

This is a static table (no import, no discovery): it only shapes messages. What is actually
available is always what the installed plugins register.
"""
from __future__ import annotations

#: distribution -> (components as "kind:name", facade names it exports)
DISTRIBUTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "hfopt-adamw": (("optimizer:adamw",), ("AdamW",)),
    "hfopt-adafactor": (
        ("optimizer:adafactor", "schedule:adafactor"),
        ("Adafactor", "AdafactorSchedule", "get_adafactor_schedule"),
    ),
    "hfopt-adamweightdecay": (("optimizer:adamweightdecay",), ("AdamWeightDecay", "create_optimizer")),
    "hfopt-warmup": (("schedule:warmup",), ("WarmUp",)),
    "hfopt-gradient-accumulator": (("accumulator:gradient_accumulator",), ("GradientAccumulator",)),
    "hfopt-schedule-constant": (("schedule:constant",), ("get_constant_schedule",)),
    "hfopt-schedule-constant-with-warmup": (
        ("schedule:constant_with_warmup",), ("get_constant_schedule_with_warmup",)),
    "hfopt-schedule-linear": (("schedule:linear",), ("get_linear_schedule_with_warmup",)),
    "hfopt-schedule-cosine": (("schedule:cosine",), ("get_cosine_schedule_with_warmup",)),
    "hfopt-schedule-cosine-with-restarts": (
        ("schedule:cosine_with_restarts",), ("get_cosine_with_hard_restarts_schedule_with_warmup",)),
    "hfopt-schedule-polynomial": (("schedule:polynomial",), ("get_polynomial_decay_schedule_with_warmup",)),
    "hfopt-schedule-inverse-sqrt": (("schedule:inverse_sqrt",), ("get_inverse_sqrt_schedule",)),
    "hfopt-schedule-reduce-lr-on-plateau": (
        ("schedule:reduce_lr_on_plateau",), ("get_reduce_on_plateau_schedule",)),
    "hfopt-schedule-cosine-with-min-lr": (
        ("schedule:cosine_with_min_lr",), ("get_cosine_with_min_lr_schedule_with_warmup",)),
    "hfopt-schedule-cosine-warmup-with-min-lr": (
        ("schedule:cosine_warmup_with_min_lr",), ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate",)),
    "hfopt-schedule-warmup-stable-decay": (("schedule:warmup_stable_decay", "schedule:wsd"), ("get_wsd_schedule",)),
    "hfopt-schedule-greedy": (
        ("schedule:greedy",), ("get_greedy_schedule", "GreedyLR", "StreamingAverage")),
}

_BY_COMPONENT = {c: d for d, (components, _) in DISTRIBUTIONS.items() for c in components}
_BY_EXPORT = {e: d for d, (_, exports) in DISTRIBUTIONS.items() for e in exports}


def distribution_for(kind: str, name: str) -> str | None:
    """The hfopt distribution that provides ``kind:name``, or ``None`` if none of ours does."""
    return _BY_COMPONENT.get(f"{kind}:{name}")


def distribution_for_export(name: str) -> str | None:
    """The hfopt distribution whose package exports ``name``, or ``None``."""
    return _BY_EXPORT.get(name)
