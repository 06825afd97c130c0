"""hfopt AdamW: registry, light plugin module, validation, optimizer protocol, state layout."""
from __future__ import annotations

import copy
import io
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import fresh_manager  # noqa: F401 - the fixture, also when this folder runs alone
import hfopt_core
from hfopt_adamw import AdamW


def _model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 2))


def _train(model, opt, steps, seed=1):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x, y = torch.randn(8, 5, generator=gen), torch.randn(8, 2, generator=gen)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def _flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_get_optimizer_resolves_adamw_through_the_registry(fresh_manager):
    params = [torch.nn.Parameter(torch.zeros(3))]
    opt = hfopt_core.get_optimizer("adamw", params, lr=0.5, weight_decay=0.1, correct_bias=False)
    assert type(opt) is AdamW
    assert opt.param_groups[0]["lr"] == 0.5 and opt.param_groups[0]["correct_bias"] is False
    spec = fresh_manager.lookup("optimizer", "adamw")
    assert spec.source.startswith("hfopt-adamw==") and spec.frameworks == ("torch",)


def test_facade_exports_adamw(fresh_manager):
    from hfopt_core import AdamW as FacadeAdamW

    assert FacadeAdamW is AdamW


def test_plugin_discovery_does_not_import_torch():
    code = ("import sys, hfopt_adamw, hfopt_adamw.plugin as m; specs = list(m.hfopt_optimizers()); "
            "assert specs[0].name == 'adamw' and specs[0].factory == 'hfopt_adamw:AdamW'; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_signature_and_defaults():
    p = torch.nn.Parameter(torch.zeros(2))
    group = AdamW([p]).param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"], group["correct_bias"]) == \
        (1e-3, (0.9, 0.999), 1e-6, 0.0, True)
    AdamW([p], 1e-3, (0.9, 0.999), 1e-6, 0.0, True, True)  # positional, incl. no_deprecation_warning


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "Invalid learning rate: -1.0 - should be >= 0.0"),
    (dict(betas=(1.0, 0.999)), "Invalid beta parameter: 1.0 - should be in [0.0, 1.0)"),
    (dict(betas=(-0.1, 0.999)), "Invalid beta parameter: -0.1 - should be in [0.0, 1.0)"),
    (dict(betas=(0.9, 1.5)), "Invalid beta parameter: 1.5 - should be in [0.0, 1.0)"),
    (dict(eps=-1e-8), "Invalid epsilon value: -1e-08 - should be >= 0.0"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1 - should be >= 0.0"),
    (dict(lr=-1.0, betas=(2.0, 2.0), eps=-1.0), "Invalid learning rate"),  # lr is checked first
    (dict(betas=(2.0, 3.0), eps=-1.0), "Invalid beta parameter: 2.0"),
])
def test_validation_messages(kwargs, message):
    with pytest.raises(ValueError) as info:
        AdamW([torch.nn.Parameter(torch.zeros(2))], **kwargs)
    assert message in str(info.value)


def test_param_group_values_are_validated():
    opt = AdamW([torch.nn.Parameter(torch.zeros(2))])
    with pytest.raises(ValueError, match="Invalid learning rate: -2.0"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))], "lr": -2.0})
    with pytest.raises(ValueError, match="Invalid weight_decay value: -1"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(2))], "weight_decay": -1})
    with pytest.raises(RuntimeError, match="fused=True"):
        opt.add_param_group({"params": [torch.zeros(2, dtype=torch.int32)], "fused": True})
    assert len(opt.param_groups) == 1  # rejected groups are not added


def test_fused_and_foreach_together_or_fused_on_integers_raise():
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(RuntimeError, match="cannot be `True` together"):
        AdamW([p], fused=True, foreach=True)
    with pytest.raises(RuntimeError, match="fused=True"):
        AdamW([torch.zeros(2, dtype=torch.int64)], fused=True)


@pytest.mark.parametrize("impl", [dict(fused=True), dict(foreach=True), dict(foreach=False)])
def test_sparse_gradients_raise(impl):
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = AdamW(emb.parameters(), **impl)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="Adam does not support sparse gradients, please consider SparseAdam"):
        opt.step()


def test_closure_is_called_with_grad_enabled_and_its_loss_returned():
    model = _model()
    opt = AdamW(model.parameters(), lr=1e-2)
    x, y = torch.randn(4, 5), torch.randn(4, 2)
    calls = []

    def closure():
        calls.append(torch.is_grad_enabled())
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    before = _flat(model)
    loss = opt.step(closure)
    assert calls == [True] and isinstance(loss, torch.Tensor)
    assert not torch.equal(before, _flat(model))


def test_param_groups_use_their_own_hyperparameters():
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = AdamW([{"params": [a]}, {"params": [b], "lr": 0.0, "weight_decay": 0.0}], lr=0.1, weight_decay=0.5)
    a.grad, b.grad = torch.ones(3), torch.ones(3)
    opt.step()
    # a: m = 0.1, v = 0.001, step size 0.1 * sqrt(1 - 0.999) / (1 - 0.9), then decay by lr * wd
    root_v = math.sqrt(0.001)
    expected = (1 - 0.1 * root_v / 0.1 * 0.1 / (root_v + 1e-6)) * (1 - 0.1 * 0.5)
    assert torch.allclose(a.detach(), torch.full((3,), expected), rtol=1e-6)
    assert torch.equal(b.detach(), torch.ones(3))


def test_add_param_group_and_zero_grad():
    a = torch.nn.Parameter(torch.ones(2))
    opt = AdamW([a], lr=0.1)
    b = torch.nn.Parameter(torch.ones(2))
    opt.add_param_group({"params": [b], "correct_bias": False})
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["correct_bias"] is False
    a.grad, b.grad = torch.ones(2), torch.ones(2)
    opt.step()
    assert opt.state[b]["step"].item() == 1
    # correct_bias=False: step size is lr, update = lr * 0.1 / (sqrt(0.001) + eps)
    assert torch.allclose(b.detach(), torch.full((2,), 1 - 0.1 * 0.1 / (0.001 ** 0.5 + 1e-6)), rtol=1e-6)
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    opt.step()  # no gradients: nothing moves, no step is counted
    assert opt.state[a]["step"].item() == 1


def test_state_layout_matches_torch_adam_family():
    ours, theirs = _model(), _model()
    a = AdamW(ours.parameters(), lr=1e-2)
    b = torch.optim.AdamW(theirs.parameters(), lr=1e-2)
    _train(ours, a, 1)
    _train(theirs, b, 1)
    for pa, pb in zip(ours.parameters(), theirs.parameters()):
        sa, sb = a.state[pa], b.state[pb]
        assert set(sa) == set(sb) == {"step", "exp_avg", "exp_avg_sq"}
        for key in sa:
            assert (sa[key].shape, sa[key].dtype, sa[key].device) == (sb[key].shape, sb[key].dtype, sb[key].device)
        assert sa["step"].item() == sb["step"].item() == 1.0
        for key in ("exp_avg", "exp_avg_sq"):  # same gradients on the first step
            assert torch.allclose(sa[key], sb[key], rtol=1e-6, atol=0)


@pytest.mark.parametrize("impl", [{}, dict(foreach=True), dict(foreach=False)])
def test_state_dict_round_trip_resumes_exactly(impl):
    straight, resumed = _model(), _model()
    opt = AdamW(straight.parameters(), lr=1e-2, weight_decay=0.1, **impl)
    _train(straight, opt, 3, seed=1)
    buffer = io.BytesIO()
    torch.save({"model": straight.state_dict(), "opt": opt.state_dict()}, buffer)
    _train(straight, opt, 3, seed=2)

    buffer.seek(0)
    checkpoint = torch.load(buffer)
    resumed.load_state_dict(checkpoint["model"])
    opt2 = AdamW(resumed.parameters(), lr=1e-2, weight_decay=0.1, **impl)
    opt2.load_state_dict(checkpoint["opt"])
    _train(resumed, opt2, 3, seed=2)
    assert torch.equal(_flat(straight), _flat(resumed))
    assert all(opt2.state[p]["step"].item() == 6 for p in resumed.parameters())


def test_state_dict_loads_into_and_from_torch_adamw():
    model = _model()
    ours = AdamW(model.parameters(), lr=1e-2)
    _train(model, ours, 2)
    theirs = torch.optim.AdamW(model.parameters(), lr=1e-2)
    theirs.load_state_dict(ours.state_dict())
    _train(model, theirs, 1)
    assert all(theirs.state[p]["step"].item() == 3 for p in model.parameters())
    back = AdamW(model.parameters(), lr=1e-2)
    back.load_state_dict(theirs.state_dict())
    assert back.param_groups[0]["correct_bias"] is True  # filled in for groups saved by torch
    _train(model, back, 1)
    assert all(back.state[p]["step"].item() == 4 for p in model.parameters())
    for p in model.parameters():  # fresh tensors, not aliases of torch's
        assert back.state[p]["step"] is not theirs.state[p]["step"]
    assert all(theirs.state[p]["step"].item() == 3 for p in model.parameters())


def test_steps_loaded_on_a_device_from_fused_torch_state_are_moved_to_the_host():
    model = _model()
    theirs = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
    _train(model, theirs, 2)
    ours = AdamW(model.parameters(), lr=1e-2, fused=True)
    ours.load_state_dict(theirs.state_dict())
    _train(model, ours, 1)
    for p in model.parameters():
        step = ours.state[p]["step"]
        assert step.item() == 3 and step.device.type == "cpu" and step.dtype == torch.float32


def test_step_counts_survive_user_replacement_and_pickling():
    model = _model()
    opt = AdamW(model.parameters(), lr=1e-2)
    _train(model, opt, 2)
    first = next(model.parameters())
    opt.state[first]["step"] = torch.tensor(10.0)  # replaced by a user: honoured
    _train(model, opt, 1)
    assert opt.state[first]["step"].item() == 11
    assert all(opt.state[p]["step"].item() == 3 for p in list(model.parameters())[1:])
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer)
    assert sorted(s["step"].item() for s in loaded["state"].values()) == [3, 3, 3, 11]
    assert all(s["step"].dim() == 0 for s in loaded["state"].values())


def test_saved_step_counts_are_independent_tensors_and_pickle_small():
    import pickle

    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(300)]
    opt = AdamW(params, lr=0.1)
    for p in params:
        p.grad = torch.ones(2)
    opt.step()
    saved = opt.state_dict()
    steps = [s["step"] for s in saved["state"].values()]
    assert all(s._base is None and s.dim() == 0 and s.item() == 1.0 for s in steps)
    # each count pickles on its own, without the others: size linear in the number of parameters
    assert len(pickle.dumps(saved)) < 300 * 2000
    # saving did not disturb the live state: the next step still counts from 1
    opt.step()
    assert all(opt.state[p]["step"].item() == 2.0 for p in params)
    assert all(s.item() == 1.0 for s in steps)


def test_tensor_learning_rate():
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt_a, opt_b = AdamW([a], lr=torch.tensor(0.01), weight_decay=0.1), AdamW([b], lr=0.01, weight_decay=0.1)
    for _ in range(2):
        a.grad, b.grad = torch.full((3,), 0.5), torch.full((3,), 0.5)
        opt_a.step(), opt_b.step()
    assert torch.allclose(a, b, rtol=1e-7, atol=0)


def test_loads_a_transformers_checkpoint_with_integer_steps():
    # transformers' AdamW kept ``state["step"]`` as a Python int: such checkpoints resume.
    model = _model()
    opt = AdamW(model.parameters(), lr=1e-2)
    _train(model, opt, 2)
    saved = copy.deepcopy(opt.state_dict())  # torch's load_state_dict keeps the tensors it is given
    for param_state in saved["state"].values():
        param_state["step"] = int(param_state["step"].item())
    straight = AdamW(model.parameters(), lr=1e-2)
    straight.load_state_dict(copy.deepcopy(opt.state_dict()))
    resumed_model = _model()
    resumed_model.load_state_dict(model.state_dict())
    resumed = AdamW(resumed_model.parameters(), lr=1e-2)
    resumed.load_state_dict(saved)
    _train(model, straight, 2, seed=3)
    _train(resumed_model, resumed, 2, seed=3)
    assert torch.equal(_flat(model), _flat(resumed_model))
    assert all(resumed.state[p]["step"].dtype == torch.float32 and resumed.state[p]["step"].item() == 4
               for p in resumed_model.parameters())


def test_without_torch_the_error_names_the_extra():
    code = ("import sys; sys.modules['torch'] = None; import hfopt_adamw\n"
            "try:\n    hfopt_adamw.AdamW\nexcept ModuleNotFoundError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "pip install 'hfopt-adamw[torch]'" in out


@pytest.mark.parametrize("kwargs, expected", [
    ({}, "fused"), (dict(fused=True), "fused"), (dict(foreach=True), "foreach"),
    (dict(fused=False), "foreach"), (dict(foreach=False), "single"), (dict(fused=False, foreach=False), "single"),
])
def test_implementation_selection(monkeypatch, kwargs, expected):
    import hfopt_adamw.optimizer as module

    calls = []
    for name in ("fused", "foreach"):
        monkeypatch.setitem(module._IMPLEMENTATIONS, name, lambda *a, _n=name, **k: calls.append(_n))
    monkeypatch.setattr(module, "adamw_single_tensor", lambda *a, **k: calls.append("single"))
    params = [torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))]
    opt = AdamW(params, **kwargs)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    assert calls == [expected, expected]  # one bucket per dtype


def test_plugin_conforms():
    """The conformance kit third parties run (tests/core/test_core_conformance.py leaves this folder to us)."""
    from hfopt_core.testing import check_plugin

    specs = check_plugin("hfopt_adamw.plugin", distribution="hfopt-adamw")
    assert [(s.kind, s.name) for s in specs] == [("optimizer", "adamw")]


README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_runs(fresh_manager):
    from hfopt_core.testing import run_readme_examples

    run_readme_examples(README)
