"""Run hfopt's conformance kit and check the components against their closed forms.

Named after the package (rename it with the package) so that several plugins made from this
template can be tested in one pytest run.
"""
from pathlib import Path

import pytest

from hfopt_core import get_optimizer, get_scheduler
from hfopt_core.testing import check_plugin, check_schedule_closed_form, run_readme_examples
from my_hfopt_plugin.schedule import get_exponential_schedule


def test_plugin_conforms():
    check_plugin("my_hfopt_plugin.plugin", distribution="my-hfopt-plugin")


def exponential_closed_form(step, num_warmup_steps, half_life=1000.0):
    """The schedule's formula (the module docstring), written independently of its code."""
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    return 0.5 ** ((step - num_warmup_steps) / half_life)


def test_schedule_closed_form():
    fn = get_scheduler("exponential", None, num_warmup_steps=10, scheduler_specific_kwargs={"half_life": 5})
    assert [fn(t) for t in (5, 10, 15, 20)] == [0.5, 1.0, 0.5, 0.25]
    check_schedule_closed_form("exponential", exponential_closed_form, [{}, {"half_life": 5}],
                               factory=get_exponential_schedule, num_warmup_steps=4, num_training_steps=None,
                               steps=[0, 2, 4, 5, 9, 20, 30], torch_case={"half_life": 3})


def test_optimizer_steps_against_the_gradient_sign():
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    optimizer = get_optimizer("sign_sgd", [p], lr=0.5, weight_decay=0.1)
    p.grad = torch.tensor([2.0, -1.0, 0.0])
    optimizer.step()
    expected = torch.tensor([1.0, -2.0, 3.0]) * (1 - 0.05) - 0.5 * torch.tensor([1.0, -1.0, 0.0])
    assert torch.equal(p.detach(), expected)
    with pytest.raises(ValueError, match="lr must be a finite number >= 0, got -1"):
        get_optimizer("sign_sgd", [p], lr=-1)


def test_the_readme_example_runs():
    run_readme_examples(Path(__file__).resolve().parents[1] / "README.md")
