"""Building blocks shared by schedule formulas (see :mod:`hfopt_core.ops`)."""
from __future__ import annotations


def linear_warmup(step, ops, num_warmup_steps):
    """``step / max(1, num_warmup_steps)``: the ramp from 0 to 1 most warmups use."""
    return ops.to_float(step) / float(max(1, num_warmup_steps))


def warmup_then(step, ops, num_warmup_steps, after):
    """``linear_warmup`` while ``step < num_warmup_steps``, then ``after``."""
    return ops.where(step < num_warmup_steps, linear_warmup(step, ops, num_warmup_steps), after)


def decay_progress(step, ops, num_warmup_steps, num_training_steps):
    """Fraction of the decay phase done: ``(step - warmup) / max(1, training - warmup)``."""
    return ops.to_float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
