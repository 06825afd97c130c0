"""GreedyLR (transformers 5.x) behaviour, from its documented rules."""
from __future__ import annotations

import math
import pickle

import pytest
import torch

from hfopt_core import GreedyLR, get_scheduler
from invalid_cases import Case, check_case, parametrize


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


def _greedy(**kwargs):
    return lambda: GreedyLR(sgd(), **kwargs)


INVALID_CASES = [
    Case("GreedyLR", "factor", "1.0", ValueError, r"Factor should be < 1\.0\. \(factor=1\.0\)", _greedy(factor=1.0)),
    Case("GreedyLR", "factor", "0.0", ValueError, r"factor must be in \(0, 1\), got 0\.0", _greedy(factor=0.0)),
    Case("GreedyLR", "factor", "nan", ValueError, r"factor must be a finite number, got nan", _greedy(factor=math.nan)),
    Case("GreedyLR", "factor", "'0.5'", TypeError, r"factor must be a real number .*'0\.5'", _greedy(factor="0.5")),
    Case("GreedyLR", "mode", "'up'", ValueError, "mode up is unknown", _greedy(mode="up")),
    Case("GreedyLR", "threshold_mode", "'x'", ValueError, "threshold mode x is unknown", _greedy(threshold_mode="x")),
    Case("GreedyLR", "threshold", "nan", ValueError, "threshold must be a finite number, got nan",
         _greedy(threshold=math.nan)),
    Case("GreedyLR", "threshold", "-1e-3", ValueError, "threshold must be a non-negative number, got -0.001",
         _greedy(threshold=-1e-3)),
    Case("GreedyLR", "min_lr", "[0.1, 0.2] (1 group)", ValueError, "expected 1 min_lrs, got 2",
         _greedy(min_lr=[0.1, 0.2])),
    Case("GreedyLR", "min_lr", "-0.1", ValueError, "min_lr must be a non-negative learning rate, got -0.1",
         _greedy(min_lr=-0.1)),
    Case("GreedyLR", "max_lr", "inf", ValueError, "max_lr must be a finite learning rate, got inf",
         _greedy(max_lr=math.inf)),
    Case("GreedyLR", "min_lr", "0.5 > max_lr=0.2", ValueError, r"min_lr \(0\.5\) must not exceed max_lr \(0\.2\)",
         _greedy(min_lr=0.5, max_lr=0.2)),
    Case("GreedyLR", "patience", "-1", ValueError, "patience must be a non-negative count, got -1",
         _greedy(patience=-1)),
    Case("GreedyLR", "patience", "2.5", TypeError, r"patience must be an int \(count\), got float 2\.5",
         _greedy(patience=2.5)),
    Case("GreedyLR", "cooldown", "-2", ValueError, "cooldown must be a non-negative count, got -2", _greedy(cooldown=-2)),
    Case("GreedyLR", "warmup", "None", TypeError, "warmup must be an int", _greedy(warmup=None)),
    Case("GreedyLR", "window_size", "0", ValueError, "window_size must be a >= 1 count, got 0", _greedy(window_size=0)),
    Case("GreedyLR", "reset_start", "0", ValueError, "reset_start must be a >= 1 count, got 0", _greedy(reset_start=0)),
    Case("GreedyLR", "eps", "nan", ValueError, "eps must be a finite number, got nan", _greedy(eps=math.nan)),
    Case("get_scheduler('greedy')", "scheduler_specific_kwargs", "{'patiense': 2}", TypeError,
         r"greedy got unknown argument\(s\) 'patiense'; GreedyLR accepts: mode, factor, patience",
         lambda: get_scheduler("greedy", sgd(), scheduler_specific_kwargs={"patiense": 2})),
]


@parametrize(INVALID_CASES)
def test_invalid_arguments_are_named(case):
    check_case(case)


def test_numpy_and_tensor_arguments_are_accepted_as_numbers():
    np = pytest.importorskip("numpy")
    sched = GreedyLR(sgd(), factor=np.float32(0.5), patience=np.int64(2), min_lr=torch.tensor(0.01))
    assert (sched.factor, sched.patience, sched.min_lrs) == (0.5, 2, [pytest.approx(0.01)])
    assert type(sched.patience) is int and type(sched.factor) is float


@pytest.mark.parametrize("smooth", [False, True])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_metrics_are_ignored(smooth, bad):
    """A NaN/inf metric changes nothing: the run equals the same run without it."""
    metrics = [5.0, 4.0, 3.0, 3.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0]
    clean_opt, dirty_opt = sgd(0.1), sgd(0.1)
    clean = GreedyLR(clean_opt, patience=1, factor=0.5, min_lr=0.01, max_lr=0.5, smooth=smooth, window_size=3)
    dirty = GreedyLR(dirty_opt, patience=1, factor=0.5, min_lr=0.01, max_lr=0.5, smooth=smooth, window_size=3)
    for i, metric in enumerate(metrics):
        clean.step(metric)
        if i in (2, 6):
            dirty.step(bad)
            dirty.step(torch.tensor(bad))
        dirty.step(metric)
        assert dirty_opt.param_groups[0]["lr"] == clean_opt.param_groups[0]["lr"]
    assert dirty.state_dict() == clean.state_dict()
    assert math.isfinite(dirty.best)


def test_tensor_learning_rate_is_updated_in_place():
    param = torch.nn.Parameter(torch.zeros(1))
    lr = torch.tensor(0.1)
    opt = torch.optim.SGD([param], lr=lr)
    sched = GreedyLR(opt, patience=0, factor=0.5, min_lr=0.01)
    for metric in (1.0, 2.0, 2.0):
        sched.step(metric)
    assert isinstance(opt.param_groups[0]["lr"], torch.Tensor) and opt.param_groups[0]["lr"] is lr
    # 1.0 improves (0.1 / 0.5 = 0.2), 2.0 and 2.0 do not (0.2 * 0.5 * 0.5 = 0.05)
    assert float(lr) == pytest.approx(0.05) and sched.get_last_lr() == [pytest.approx(0.05)]


def test_not_an_optimizer():
    with pytest.raises(TypeError, match="is not an Optimizer"):
        GreedyLR(object())
