"""Every deliberate difference from transformers 4.57.6 listed in docs/compatibility.md, checked against it.

Each test shows what transformers 4.57.6 does (the oracle, test-only) and what hfopt does instead.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

import hfopt_core
from hfopt_core import TYPE_TO_SCHEDULER_FUNCTION, SchedulerType, get_scheduler

transformers = pytest.importorskip("transformers")
tf_opt = pytest.importorskip("transformers.optimization")


def sgd(lr=0.1):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_the_oracle_is_4_57_6():
    assert transformers.__version__ == "4.57.6"


def test_inverse_sqrt_honours_timescale_through_get_scheduler_as_in_5x():
    theirs = tf_opt.get_scheduler("inverse_sqrt", sgd(), 4, scheduler_specific_kwargs={"timescale": 16})
    assert theirs.lr_lambdas[0].keywords["timescale"] == 4  # 4.57.6 drops it silently
    ours = get_scheduler("inverse_sqrt", sgd(), 4, scheduler_specific_kwargs={"timescale": 16})
    assert ours.lr_lambdas[0].keywords["timescale"] == 16


def test_greedy_is_the_5x_addition():
    assert not hasattr(tf_opt, "GreedyLR") and "greedy" not in [m.value for m in transformers.SchedulerType]
    assert SchedulerType.GREEDY.value == "greedy" and hfopt_core.GreedyLR is not None


@pytest.mark.parametrize(("name", "args", "specific"), [
    ("linear", (math.nan, 100), None),
    ("linear", (-3, 10), None),
    ("cosine", (math.inf, 10), None),
    ("cosine", (2, 10), {"num_cycles": math.nan}),
    ("polynomial", (2, 10), {"power": -1.0}),
    ("cosine_with_min_lr", (2, 10), {"min_lr_rate": -0.5}),
])
def test_bad_numbers_transformers_accepts_are_value_errors(name, args, specific):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tf_opt.get_scheduler(name, sgd(), *args, scheduler_specific_kwargs=specific)  # accepted by 4.57.6
    with pytest.raises(ValueError, match="must be a"):
        get_scheduler(name, sgd(), *args, scheduler_specific_kwargs=specific)


def test_nan_warmup_multiplier_in_transformers():
    assert tf_opt.get_scheduler("linear", sgd(), math.nan, 100).lr_lambdas[0](0) == 100.0


@pytest.mark.parametrize(("call", "later_step"), [
    (lambda m, o: m.get_polynomial_decay_schedule_with_warmup(o, 5, 5), 6),
    (lambda m, o: m.get_inverse_sqrt_schedule(o, 2, timescale=0), 3),
])
def test_division_by_zero_at_a_later_step_is_a_value_error_at_construction(call, later_step):
    theirs = call(tf_opt, sgd())
    with pytest.raises(ZeroDivisionError):
        [theirs.lr_lambdas[0](t) for t in range(later_step)]
    with pytest.raises(ValueError):
        call(hfopt_core, sgd())


def test_min_lr_with_a_zero_initial_lr():
    with pytest.raises(ZeroDivisionError):
        tf_opt.get_cosine_with_min_lr_schedule_with_warmup(sgd(0.0), 2, 10, min_lr=1e-3)
    with pytest.raises(ValueError, match="min_lr=0.001 needs a positive initial learning rate, got 0.0"):
        hfopt_core.get_cosine_with_min_lr_schedule_with_warmup(sgd(0.0), 2, 10, min_lr=1e-3)


def test_negative_wsd_stable_phase_is_silently_truncated_by_transformers():
    """4.57.6 does not crash: with W=5, D=4, T=8 (stable = -1) its decay starts a quarter of the way in."""
    theirs = tf_opt.get_wsd_schedule(sgd(), 5, 4, num_training_steps=8, decay_type="linear").lr_lambdas[0]
    assert [theirs(t) for t in range(9)] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 0.75, 0.5, 0.25, 0.0])
    with pytest.raises(ValueError, match=r"the stable phase would be -1 steps"):
        hfopt_core.get_wsd_schedule(sgd(), 5, 4, num_training_steps=8, decay_type="linear")


def test_scheduler_specific_kwargs_errors():
    with pytest.raises(TypeError, match="argument after \\*\\* must be a mapping"):
        tf_opt.get_scheduler("cosine", sgd(), 2, 10, scheduler_specific_kwargs="abc")
    with pytest.raises(TypeError, match="scheduler_specific_kwargs must be a mapping"):
        get_scheduler("cosine", sgd(), 2, 10, scheduler_specific_kwargs="abc")
    with pytest.raises(TypeError, match="unexpected keyword argument 'num_cycles'"):
        tf_opt.get_scheduler("linear", sgd(), 2, 10, scheduler_specific_kwargs={"num_cycles": 2})
    with pytest.raises(TypeError, match="unknown key.*'num_cycles'; it accepts: last_epoch"):
        get_scheduler("linear", sgd(), 2, 10, scheduler_specific_kwargs={"num_cycles": 2})


def test_ignored_kwargs_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tf_opt.get_scheduler("constant", sgd(), scheduler_specific_kwargs={"num_cycles": 2})  # silent
    with pytest.warns(UserWarning, match="takes no scheduler_specific_kwargs"):
        get_scheduler("constant", sgd(), scheduler_specific_kwargs={"num_cycles": 2})


def test_numbers_are_converted_to_plain_python_numbers():
    theirs = tf_opt.get_scheduler("linear", sgd(), np.int64(2), torch.tensor(10)).lr_lambdas[0].keywords
    ours = get_scheduler("linear", sgd(), np.int64(2), torch.tensor(10)).lr_lambdas[0].keywords
    assert type(theirs["num_training_steps"]) is torch.Tensor
    assert ours == {"num_warmup_steps": 2, "num_training_steps": 10}
    assert all(type(v) is int for v in ours.values())


def test_type_to_scheduler_function_is_read_only_and_live_not_a_dict():
    assert type(tf_opt.TYPE_TO_SCHEDULER_FUNCTION) is dict
    assert not isinstance(TYPE_TO_SCHEDULER_FUNCTION, dict)
    assert SchedulerType.GREEDY in TYPE_TO_SCHEDULER_FUNCTION


def test_step_function_func_is_hfopts_own():
    theirs = tf_opt.get_linear_schedule_with_warmup(sgd(), 2, 10).lr_lambdas[0]
    ours = hfopt_core.get_linear_schedule_with_warmup(sgd(), 2, 10).lr_lambdas[0]
    assert theirs.func is not ours.func and (theirs.args, theirs.keywords) == (ours.args, ours.keywords)


def test_layerwise_dummy_optimizer():
    from transformers.trainer_pt_utils import LayerWiseDummyOptimizer

    model = torch.nn.Linear(2, 1)
    dummy = LayerWiseDummyOptimizer(optimizer_dict={p: torch.optim.SGD([p], lr=0.1) for p in model.parameters()},
                                    lr=0.1)
    with pytest.raises(ValueError):
        tf_opt.get_scheduler("linear", dummy, 2, 10)
    assert get_scheduler("linear", dummy, 2, 10).get_last_lr() == [0.0, 0.0]


def test_greedy_ignores_a_nan_metric():
    opt = sgd()
    sched = get_scheduler("greedy", opt, scheduler_specific_kwargs={"smooth": True, "patience": 0})
    sched.step(float("nan"))
    sched.step(1.0)
    assert math.isfinite(sched.best)


def test_reduce_on_plateau_nan_factor():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tf_opt.get_scheduler("reduce_lr_on_plateau", sgd(), scheduler_specific_kwargs={"factor": math.nan})
    with pytest.raises(ValueError, match="factor must be a finite number, got nan"):
        get_scheduler("reduce_lr_on_plateau", sgd(), scheduler_specific_kwargs={"factor": math.nan})
