"""GreedyLR (transformers 5.x) behaviour, from its documented rules."""
from __future__ import annotations

import pickle

import pytest
import torch

from hfopt_core import GreedyLR, get_scheduler


def sgd(lr=0.1, groups=1):
    return torch.optim.SGD([{"params": [torch.nn.Parameter(torch.zeros(1))]} for _ in range(groups)], lr=lr)


def test_get_scheduler_builds_greedy_with_kwargs_and_ignores_step_counts():
    opt = sgd()
    sched = get_scheduler("greedy", opt, num_warmup_steps=None, scheduler_specific_kwargs={"patience": 2})
    assert isinstance(sched, GreedyLR) and sched.patience == 2


def test_improvement_raises_lr_after_patience():
    opt = sgd(0.1)
    sched = GreedyLR(opt, patience=2, factor=0.5, max_lr=0.3)
    for loss in (5.0, 4.0):
        sched.step(loss)
    assert opt.param_groups[0]["lr"] == 0.1          # 2 good epochs: not more than patience yet
    sched.step(3.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2)   # third: divided by factor
    for loss in (2.0, 1.0, 0.5):
        sched.step(loss)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.3)   # capped at max_lr
    assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]


def test_plateau_lowers_lr_to_the_floor_then_resets():
    opt = sgd(0.1)
    sched = GreedyLR(opt, patience=0, factor=0.5, min_lr=0.03, max_lr=0.1, reset_start=2)
    sched.step(1.0)                                   # improvement over inf: raise, but capped at max_lr
    sched.step(1.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    sched.step(1.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.03)  # floor; first reduction at the floor
    sched.step(1.0)                                   # second at the floor: reset to the initial state
    assert opt.param_groups[0]["lr"] == 0.1 and sched.best == float("inf")


def test_cooldown_and_max_mode_and_rel_threshold():
    opt = sgd(0.1)
    sched = GreedyLR(opt, mode="max", patience=0, factor=0.5, cooldown=2, threshold=0.1, threshold_mode="rel",
                     min_lr=0.0, max_lr=0.1)
    sched.step(1.0)
    sched.step(1.05)                                  # within 10 %: not better -> reduce
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    sched.step(0.0), sched.step(0.0)                  # cooldown: ignored
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    sched.step(0.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.025)


def test_smoothing_uses_a_window_mean():
    opt = sgd()
    sched = GreedyLR(opt, smooth=True, window_size=2, patience=100)
    for v in (4.0, 2.0, 0.0):
        sched.step(v)
    assert sched.best == pytest.approx(1.0)  # mean of the last two


def test_state_dict_round_trip_and_pickle():
    opt = sgd(0.1, groups=2)
    sched = GreedyLR(opt, patience=1, factor=0.5, smooth=True, window_size=3, min_lr=[0.01, 0.02])
    for v in (3.0, 3.0, 3.0, 2.0):
        sched.step(v)
    state = sched.state_dict()
    clone = pickle.loads(pickle.dumps(sched))
    other_opt = sgd(0.1, groups=2)
    restored = GreedyLR(other_opt, smooth=True)
    restored.load_state_dict(state)
    assert [g["lr"] for g in other_opt.param_groups] == [g["lr"] for g in opt.param_groups]
    for v in (2.0, 2.0, 1.0, 1.0, 1.0):
        sched.step(v), restored.step(v), clone.step(v)
    assert restored.get_last_lr() == sched.get_last_lr() == clone.get_last_lr()
    assert restored.state_dict() == sched.state_dict()


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"factor": 1.0}, ValueError, "Factor should be < 1.0."),
    ({"factor": 0.0}, ValueError, "factor must be in"),
    ({"mode": "up"}, ValueError, "mode up is unknown"),
    ({"threshold_mode": "x"}, ValueError, "threshold mode x is unknown"),
    ({"min_lr": [0.1, 0.2]}, ValueError, "expected 1 min_lrs, got 2"),
    ({"patience": -1}, ValueError, "patience must be >= 0"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        GreedyLR(sgd(), **kwargs)


def test_not_an_optimizer():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        GreedyLR(object())
