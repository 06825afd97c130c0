"""Run hfopt's conformance kit and check the formula against its closed form."""
from hfopt_core import get_scheduler
from hfopt_core.testing import check_plugin


def test_plugin_conforms():
    check_plugin("my_hfopt_plugin.plugin", distribution="my-hfopt-plugin")


def test_closed_form():
    fn = get_scheduler("exponential", None, num_warmup_steps=10, scheduler_specific_kwargs={"half_life": 5})
    assert fn(5) == 0.5 and fn(10) == 1.0 and fn(15) == 0.5 and fn(20) == 0.25
