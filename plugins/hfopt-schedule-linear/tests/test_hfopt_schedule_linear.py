"""Tests of hfopt-schedule-linear, runnable alone:

    pytest plugins/hfopt-schedule-linear

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
from hfopt_schedule_linear import get_linear_schedule_with_warmup

README = Path(__file__).resolve().parents[1] / "README.md"
W = 4  # num_warmup_steps
T = 20  # num_training_steps
COMMON = dict(num_warmup_steps=W, num_training_steps=T)  # what get_scheduler passes


def closed_form(step, num_warmup_steps, num_training_steps):
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    return max(0.0, (num_training_steps - step) / max(1, num_training_steps - num_warmup_steps))


STEPS = [0, 1, 3, 4, 5, 12, 20, 25]


@pytest.mark.parametrize("kwargs", [
    {},
])
def test_step_function_is_the_closed_form(kwargs):
    fn = get_scheduler("linear", None, **COMMON, scheduler_specific_kwargs=kwargs)
    direct = get_linear_schedule_with_warmup(None, **COMMON, **kwargs)
    for step in STEPS:
        want = closed_form(step, **COMMON, **kwargs)
        assert fn(step) == pytest.approx(want, rel=1e-12, abs=1e-15), step
        assert direct(step) == fn(step)
    restored = pickle.loads(pickle.dumps(fn))
    assert [restored(step) for step in STEPS] == [fn(step) for step in STEPS]


def test_torch_scheduler_follows_the_closed_form():
    torch = pytest.importorskip("torch")
    lr, kwargs = 0.5, {}
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = get_scheduler("linear", optimizer, **COMMON, scheduler_specific_kwargs=kwargs)
    for step in range(22):
        want = lr * closed_form(step, **COMMON, **kwargs)
        assert optimizer.param_groups[0]["lr"] == pytest.approx(want, rel=1e-12, abs=1e-15), step
        optimizer.step()
        scheduler.step()
    rebuilt = get_scheduler("linear", optimizer, **COMMON, scheduler_specific_kwargs=kwargs)
    rebuilt.load_state_dict(scheduler.state_dict())
    assert rebuilt.last_epoch == 22 and rebuilt.get_last_lr() == scheduler.get_last_lr()


def test_invalid_arguments_are_named_before_anything_is_built():
    message = "num_training_steps must be a real number (number of steps), got str '100'"
    with pytest.raises(TypeError, match=re.escape(message)):
        get_linear_schedule_with_warmup(None, num_warmup_steps=1, num_training_steps='100')


def test_plugin_conforms():
    specs = check_plugin("hfopt_schedule_linear.plugin",
                         distribution="hfopt-schedule-linear")
    assert [s.name for s in specs] == ["linear"]


def test_the_readme_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README.md shows a python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
