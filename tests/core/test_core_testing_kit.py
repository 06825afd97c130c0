"""The conformance kit's shared checks: check_schedule_closed_form and run_readme_examples fail when they should."""
from __future__ import annotations

import pytest

from hfopt_core.testing import check_schedule_closed_form, run_readme_examples
from hfopt_schedule_linear import get_linear_schedule_with_warmup


def linear(step, num_warmup_steps, num_training_steps):
    """transformers' linear schedule, from its documented formula."""
    if step < num_warmup_steps:
        return step / max(1, num_warmup_steps)
    return max(0.0, (num_training_steps - step) / max(1, num_training_steps - num_warmup_steps))


def test_a_schedule_that_follows_its_closed_form_passes():
    check_schedule_closed_form("linear", linear, [{}], factory=get_linear_schedule_with_warmup, steps=[0, 3, 4, 12, 25])


def test_a_wrong_closed_form_is_named_with_its_step():
    def off_by_one(step, num_warmup_steps, num_training_steps):
        return linear(step, num_warmup_steps, num_training_steps + (step >= 12))

    with pytest.raises(AssertionError, match=r"schedule 'linear' \{\}: step 12 gives 0\.5, the closed form"):
        check_schedule_closed_form("linear", off_by_one, [{}], steps=[0, 4, 12])


def test_a_factory_that_disagrees_with_get_scheduler_is_named():
    def other_factory(optimizer, num_warmup_steps, num_training_steps):
        return get_linear_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps + 1)

    with pytest.raises(AssertionError, match="the factory called directly gives"):
        check_schedule_closed_form("linear", linear, [{}], factory=other_factory, steps=[0, 4, 12])


def test_the_torch_check_compares_the_optimizer_lr_with_lr_times_the_closed_form():
    pytest.importorskip("torch")

    def halved_after_warmup(step, num_warmup_steps, num_training_steps, torch_only=False):
        value = linear(step, num_warmup_steps, num_training_steps)
        return value / 2 if torch_only and step >= num_warmup_steps else value

    with pytest.raises(AssertionError, match=r"on torch: step 4 sets lr 0\.5, the closed form 0\.25"):
        check_schedule_closed_form("linear", halved_after_warmup, [{}], steps=[0, 4],
                                   torch_case=({}, {"torch_only": True}))


def test_readme_examples_run_each_block_in_a_fresh_namespace(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n```python\nx = 1\nassert x == 1\n```\ntext\n```python\nassert 'x' not in dir()\n```\n")
    assert run_readme_examples(readme) == 2
    readme.write_text("```python\nraise ValueError('from the example')\n```\n")
    with pytest.raises(ValueError, match="from the example"):
        run_readme_examples(str(readme))


def test_a_readme_without_a_python_example_fails(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n```bash\necho hi\n```\n")
    with pytest.raises(AssertionError, match="README.md shows a python example"):
        run_readme_examples(readme)
