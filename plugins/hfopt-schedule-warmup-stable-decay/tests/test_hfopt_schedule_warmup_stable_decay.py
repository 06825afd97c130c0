"""Tests of hfopt-schedule-warmup-stable-decay: expectations from its documented formula, written here.

Never from the plugin's code. Run alone: pytest plugins/hfopt-schedule-warmup-stable-decay
"""

import math
import re
from pathlib import Path

import pytest

from hfopt_core.testing import check_plugin, check_schedule_closed_form, run_readme_examples
from hfopt_schedule_warmup_stable_decay import get_wsd_schedule


def closed_form(step, num_warmup_steps, num_decay_steps, num_training_steps=None, num_stable_steps=None,
                warmup_type="linear", decay_type="cosine", min_lr_ratio=0.0, num_cycles=0.5):
    if num_stable_steps is None:
        num_stable_steps = num_training_steps - num_warmup_steps - num_decay_steps
    warm = {"linear": lambda p: p, "cosine": lambda p: 0.5 * (1 - math.cos(math.pi * p)),
            "1-sqrt": lambda p: 1 - math.sqrt(1 - p)}[warmup_type]
    decay = {"linear": lambda p: 1 - p, "cosine": lambda p: 0.5 * (1 + math.cos(math.pi * num_cycles * 2 * p)),
             "1-sqrt": lambda p: 1 - math.sqrt(p)}[decay_type]
    if step < num_warmup_steps:
        return max(0.0, warm(step / max(1, num_warmup_steps)) * (1 - min_lr_ratio) + min_lr_ratio)
    if step < num_warmup_steps + num_stable_steps:
        return 1.0
    if step < num_warmup_steps + num_stable_steps + num_decay_steps:
        progress = (step - num_warmup_steps - num_stable_steps) / max(1, num_decay_steps)
        return max(0.0, decay(progress) * (1 - min_lr_ratio) + min_lr_ratio)
    return min_lr_ratio


def test_the_schedule_follows_its_closed_form():
    check_schedule_closed_form("warmup_stable_decay", closed_form,
                               [{'num_decay_steps': 6},
                                {'num_decay_steps': 6, 'warmup_type': 'cosine', 'decay_type': '1-sqrt', 'min_lr_ratio': 0.1},
                                {'num_decay_steps': 6, 'warmup_type': '1-sqrt', 'decay_type': 'linear'}],
                               factory=get_wsd_schedule, steps=[0, 1, 3, 4, 9, 14, 15, 17, 19, 20, 25],
                               torch_case={"num_decay_steps": 8, "min_lr_ratio": 0.05}, torch_steps=22)


def test_invalid_arguments_are_named_before_anything_is_built():
    with pytest.raises(ValueError, match=re.escape('Unknown decay type: exponential')):
        get_wsd_schedule(None, 2, 4, num_training_steps=10, decay_type='exponential')


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_warmup_stable_decay.plugin",
                         distribution="hfopt-schedule-warmup-stable-decay",
                         schedule_kwargs={'warmup_stable_decay': {'num_decay_steps': 4}})
    assert [s.name for s in specs] == ["warmup_stable_decay"]


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
