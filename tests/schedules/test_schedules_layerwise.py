"""Layer-wise scheduling: get_scheduler on transformers' LayerWiseDummyOptimizer, built the Trainer's way.

transformers' own get_scheduler fails on this path with torch 2.13 (its dummy scheduler writes one
learning rate per parameter into a one-group optimizer); hfopt schedules every per-parameter
optimizer and the per-parameter learning rates equal the non-layer-wise run's at every step.
"""
from __future__ import annotations

import io

import pytest
import torch

from hfopt_core import get_manager, get_scheduler

trainer_pt_utils = pytest.importorskip("transformers.trainer_pt_utils")
LayerWiseDummyOptimizer = trainer_pt_utils.LayerWiseDummyOptimizer

LR = 0.05
#: every installed schedule that drives a torch LambdaLR, with the example arguments its plugin declares
SCHEDULES = [(spec.name, dict(spec.example) or None) for spec in get_manager().specs("schedule")
             if {"python", "torch"} <= set(spec.frameworks)]


def tiny_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def make_optimizer(params, lr=LR):
    return torch.optim.AdamW(params, lr=lr, weight_decay=0.01, foreach=False)


def layerwise_dummy(model):
    """What Trainer.get_optimizer_cls_and_kwargs does for optim='*_layerwise' (one optimizer per parameter)."""
    optimizer_dict = {param: make_optimizer([{"params": [param]}]) for param in model.parameters()}

    def optimizer_hook(param):
        if param.grad is not None:
            optimizer_dict[param].step()
            optimizer_dict[param].zero_grad()

    for param in model.parameters():
        if param.requires_grad:
            param.register_post_accumulate_grad_hook(optimizer_hook)
    params = [{"params": list(model.parameters())}]
    return LayerWiseDummyOptimizer(params=params, lr=LR, optimizer_dict=optimizer_dict)


def batches(n):
    gen = torch.Generator().manual_seed(1)
    return [(torch.randn(5, 4, generator=gen), torch.randn(5, 2, generator=gen)) for _ in range(n)]


def train(model, optimizer, scheduler, data, per_param_lrs):
    seen = []
    for x, y in data:
        seen.append(per_param_lrs())
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    return seen


@pytest.mark.parametrize(("name", "specific"), SCHEDULES)
def test_every_parameter_is_scheduled_like_the_plain_run(name, specific):
    data = batches(12)
    plain_model = tiny_model()
    plain_opt = make_optimizer(plain_model.parameters())
    plain_sched = get_scheduler(name, plain_opt, 2, 10, specific)
    n_params = len(list(plain_model.parameters()))
    plain = train(plain_model, plain_opt, plain_sched, data, lambda: [plain_opt.param_groups[0]["lr"]] * n_params)

    model = tiny_model()
    dummy = layerwise_dummy(model)
    sched = get_scheduler(name, dummy, 2, 10, specific)
    layered = train(model, dummy, sched, data,
                    lambda: [opt.param_groups[0]["lr"] for opt in dummy.optimizer_dict.values()])

    assert layered == plain
    assert len({tuple(lrs) for lrs in plain}) > 1 or name == "constant"
    for ours, reference in zip(model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(ours, reference, rtol=0, atol=0)


def test_a_phase_spec_schedules_every_parameter_like_the_plain_run():
    spec = [{"name": "constant_with_warmup", "num_warmup_steps": 3, "steps": 3},
            {"name": "cosine", "num_warmup_steps": 0}]
    data = batches(12)
    plain_model = tiny_model()
    plain_opt = make_optimizer(plain_model.parameters())
    plain_sched = get_scheduler(spec, plain_opt, num_training_steps=10)
    n_params = len(list(plain_model.parameters()))
    plain = train(plain_model, plain_opt, plain_sched, data, lambda: [plain_opt.param_groups[0]["lr"]] * n_params)
    model = tiny_model()
    dummy = layerwise_dummy(model)
    sched = get_scheduler(spec, dummy, num_training_steps=10)
    layered = train(model, dummy, sched, data,
                    lambda: [opt.param_groups[0]["lr"] for opt in dummy.optimizer_dict.values()])
    assert layered == plain and plain[1][0] == LR / 3 and plain[3][0] == LR


def test_dummy_scheduler_behaves_like_transformers_dummy_scheduler():
    model = tiny_model()
    dummy = layerwise_dummy(model)
    sched = get_scheduler("linear", dummy, 2, 10)
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler) and sched.optimizer is dummy
    assert sched.default_lr == LR and sched.base_lrs == [LR]
    per_param = lambda: [opt.param_groups[0]["lr"] for opt in dummy.optimizer_dict.values()]  # noqa: E731
    assert sched.get_last_lr() == per_param() == [0.0] * 4
    for x, y in batches(3):
        torch.nn.functional.mse_loss(model(x), y).backward()
        dummy.step()
        sched.step()
        # one lr per parameter optimizer, in optimizer_dict order; the dummy's group shows the first
        assert sched.get_last_lr() == per_param()
        assert dummy.param_groups[0]["lr"] == sched.get_last_lr()[0]
    assert sched.last_epoch == 3 and sched.get_last_lr() == [pytest.approx(LR * 7 / 8)] * 4  # (10-3)/(10-2)


def test_state_dict_round_trips_every_per_parameter_scheduler():
    model = tiny_model()
    dummy = layerwise_dummy(model)
    sched = get_scheduler("cosine", dummy, 2, 10)
    for x, y in batches(4):
        torch.nn.functional.mse_loss(model(x), y).backward()
        sched.step()
    buffer = io.BytesIO()
    torch.save(sched.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)

    model2 = tiny_model()
    dummy2 = layerwise_dummy(model2)
    sched2 = get_scheduler("cosine", dummy2, 2, 10)
    sched2.load_state_dict(state)
    assert sched2.last_epoch == 4 and sched2.get_last_lr() == sched.get_last_lr()
    assert [s.last_epoch for s in sched2.schedulers.values()] == [4] * 4
    with pytest.raises(ValueError, match="state_dict has 4 per-parameter scheduler states, this scheduler has 2"):
        small = torch.nn.Linear(2, 1)
        get_scheduler("cosine", layerwise_dummy(small), 2, 10).load_state_dict(state)


def test_bad_arguments_leave_the_model_without_hooks():
    model = tiny_model()
    dummy = layerwise_dummy(model)
    with pytest.raises(ValueError, match="num_warmup_steps must be a finite number of steps, got nan"):
        get_scheduler("linear", dummy, float("nan"), 10)
    assert all(len(p._post_accumulate_grad_hooks) == 1 for p in model.parameters())  # the optimizer's only


def test_remove_hooks_stops_scheduling():
    model = tiny_model()
    dummy = layerwise_dummy(model)
    sched = get_scheduler("linear", dummy, 2, 10)
    sched.remove_hooks()
    for x, y in batches(2):
        torch.nn.functional.mse_loss(model(x), y).backward()
    assert [s.last_epoch for s in sched.schedulers.values()] == [0] * 4


def test_transformers_own_path_fails_on_this_torch():
    """Why hfopt handles it: transformers' LayerWiseDummyScheduler cannot be built on torch >= 2.6."""
    tf_opt = pytest.importorskip("transformers.optimization")
    with pytest.raises(ValueError, match="zip"):
        tf_opt.get_scheduler("linear", layerwise_dummy(tiny_model()), 2, 10)
