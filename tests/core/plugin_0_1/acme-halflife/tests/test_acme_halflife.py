"""The plugin's own tests, as written against hfopt-core 0.1 (conformance kit, closed form, torch)."""
import pickle

import pytest

from hfopt_core import get_scheduler
from hfopt_core.testing import check_plugin


def test_plugin_conforms():
    check_plugin("acme_halflife.plugin", distribution="acme-halflife")


def test_closed_form():
    fn = get_scheduler("exponential", None, num_warmup_steps=10, scheduler_specific_kwargs={"half_life": 5})
    assert fn(5) == 0.5 and fn(10) == 1.0 and fn(15) == 0.5 and fn(20) == 0.25
    assert pickle.loads(pickle.dumps(fn))(25) == 0.125


def test_facade_export_and_alias():
    from hfopt_core import get_exponential_schedule

    fn = get_exponential_schedule(None, num_warmup_steps=0, half_life=2)
    assert fn(4) == 0.25
    assert get_scheduler("exp", None, num_warmup_steps=0, scheduler_specific_kwargs={"half_life": 2})(4) == 0.25


def test_torch_scheduler():
    torch = pytest.importorskip("torch")
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.8)
    scheduler = get_scheduler("exponential", optimizer, num_warmup_steps=2,
                              scheduler_specific_kwargs={"half_life": 1})
    lrs = []
    for _ in range(5):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == [0.0, 0.4, 0.8, 0.4, 0.2]


def test_step_counts_are_checked():
    with pytest.raises(ValueError, match="num_warmup_steps"):
        get_scheduler("exponential", None, num_warmup_steps=-1)
