"""Tests of hfopt-schedule-cosine-with-min-lr, runnable alone:

    pytest plugins/hfopt-schedule-cosine-with-min-lr

The expectations are computed here from the closed form (the formula in the package docstring,
which is transformers' documented schedule), never from the plugin's own code.
"""
from __future__ import annotations

import math
import pickle
import re
from pathlib import Path

import pytest

from hfopt_core import get_scheduler
from hfopt_core.testing import check_plugin
from hfopt_schedule_cosine_with_min_lr import get_cosine_with_min_lr_schedule_with_warmup

README = Path(__file__).resolve().parents[1] / "README.md"
W = 4  # num_warmup_steps
T = 20  # num_training_steps
COMMON = dict(num_warmup_steps=W, num_training_steps=T)  # what get_scheduler passes


def closed_form(step, num_warmup_steps, num_training_steps, min_lr_rate, num_cycles=0.5):
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    progress = (step - num_warmup_steps) / max(1, num_training_steps - num_warmup_steps)
    factor = 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress))
    return max(0.0, factor * (1.0 - min_lr_rate) + min_lr_rate)


STEPS = [0, 2, 4, 5, 9, 12, 19, 20]


@pytest.mark.parametrize("kwargs", [
    {'min_lr_rate': 0.1},
    {'min_lr_rate': 0.0, 'num_cycles': 1.0},
])
def test_step_function_is_the_closed_form(kwargs):
    fn = get_scheduler("cosine_with_min_lr", None, **COMMON, scheduler_specific_kwargs=kwargs)
    direct = get_cosine_with_min_lr_schedule_with_warmup(None, **COMMON, **kwargs)
    for step in STEPS:
        want = closed_form(step, **COMMON, **kwargs)
        assert fn(step) == pytest.approx(want, rel=1e-12, abs=1e-15), step
        assert direct(step) == fn(step)
    restored = pickle.loads(pickle.dumps(fn))
    assert [restored(step) for step in STEPS] == [fn(step) for step in STEPS]


def test_torch_scheduler_follows_the_closed_form():
    torch = pytest.importorskip("torch")
    lr, kwargs = 0.5, {"min_lr": 0.05}
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = get_scheduler("cosine_with_min_lr", optimizer, **COMMON, scheduler_specific_kwargs=kwargs)
    for step in range(22):
        want = lr * closed_form(step, **COMMON, **{"min_lr_rate": 0.1})
        assert optimizer.param_groups[0]["lr"] == pytest.approx(want, rel=1e-12, abs=1e-15), step
        optimizer.step()
        scheduler.step()
    rebuilt = get_scheduler("cosine_with_min_lr", optimizer, **COMMON, scheduler_specific_kwargs=kwargs)
    rebuilt.load_state_dict(scheduler.state_dict())
    assert rebuilt.last_epoch == 22 and rebuilt.get_last_lr() == scheduler.get_last_lr()


def test_invalid_arguments_are_named_before_anything_is_built():
    message = 'Only one of min_lr or min_lr_rate should be set'
    with pytest.raises(ValueError, match=re.escape(message)):
        get_cosine_with_min_lr_schedule_with_warmup(None, 1, 10, min_lr=0.1, min_lr_rate=0.1)


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_cosine_with_min_lr.plugin",
                         distribution="hfopt-schedule-cosine-with-min-lr",
                         schedule_kwargs={'cosine_with_min_lr': {'min_lr_rate': 0.1}})
    assert [s.name for s in specs] == ["cosine_with_min_lr"]


def test_the_readme_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README.md shows a python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
