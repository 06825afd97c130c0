"""Adafactor's argument checks, sparse gradients, closures, and the options transformers lacks:
stochastic rounding into bfloat16 and ``min_dim_size_to_factor``."""
from __future__ import annotations

import pytest
import torch

from hfopt_adafactor import Adafactor
from hfopt_adafactor.rounding import stochastic_round_to_bf16_

tf_opt = pytest.importorskip("transformers.optimization")


def params(*shapes, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(s, generator=gen).to(dtype)) for s in shapes]


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=1e-3), "Cannot combine manual `lr` and `relative_step=True` options"),
    (dict(lr=1e-3, relative_step=False, warmup_init=True), "`warmup_init=True` requires `relative_step=True`"),
])
def test_transformers_errors_and_messages(kwargs, message):
    for cls in (Adafactor, tf_opt.Adafactor):
        with pytest.raises(ValueError) as info:
            cls(params((2,)), **kwargs)
        assert str(info.value) == message


def test_manual_mode_without_lr_fails_at_construction():
    upstream = tf_opt.Adafactor(params((2,)), relative_step=False)  # transformers fails late ...
    upstream.param_groups[0]["params"][0].grad = torch.ones(2)
    with pytest.raises(TypeError):
        upstream.step()
    with pytest.raises(ValueError, match=r"relative_step=False.*lr"):  # ... we fail early
        Adafactor(params((2,)), relative_step=False)


# the invalid-argument cases themselves: INVALID_CASES in test_hfopt_adafactor_validation.py


def test_invalid_param_group_is_rejected():
    opt = Adafactor(params((2,)))
    with pytest.raises(ValueError, match="beta1"):
        opt.add_param_group({"params": params((3,)), "beta1": 2.0})


def test_edge_values_are_accepted():
    Adafactor(params((2,)), beta1=0.0, eps=(0.0, 0.0), weight_decay=0.0)


def test_sparse_gradient_raises_before_touching_anything():
    dense, sparse = params((3,), (4,))
    dense.grad = torch.ones(3)
    sparse.grad = torch.sparse_coo_tensor([[0]], [1.0], (4,), check_invariants=True)
    opt = Adafactor([dense, sparse])
    before = dense.detach().clone()
    with pytest.raises(RuntimeError, match="Adafactor does not support sparse gradients."):
        opt.step()
    assert torch.equal(dense, before) and len(opt.state) == 0


def test_closure_runs_with_gradients_and_returns_loss():
    (p,) = params((3,))
    opt = Adafactor([p])

    def closure():
        opt.zero_grad()
        loss = (p ** 2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() > 0 and opt.state[p]["step"] == 1


# -- stochastic rounding ------------------------------------------------------------------------
def test_stochastic_rounding_picks_a_neighbour_and_is_unbiased():
    ulp = 2.0 ** -7  # bfloat16 spacing in [1, 2)
    x = torch.full((50000,), 1.0 + ulp / 8)
    x[:10] = -x[:10]
    rounded = stochastic_round_to_bf16_(x.clone(), torch.Generator().manual_seed(0))
    assert torch.equal(rounded.to(torch.bfloat16).float(), rounded)  # representable in bf16
    assert set(rounded.abs().unique().tolist()) == {1.0, 1.0 + ulp}
    assert abs(rounded[10:].mean().item() - (1.0 + ulp / 8)) < ulp / 50  # unbiased
    assert (rounded[:10] < 0).all()
    # round-to-nearest would give 1.0 everywhere: the bias stochastic rounding removes
    assert torch.equal(x[10:].to(torch.bfloat16).float(), torch.ones(len(x) - 10))


def test_stochastic_rounding_keeps_non_finite_values():
    x = torch.tensor([float("inf"), -float("inf"), float("nan"), 0.0, -0.0, 3.0])
    out = stochastic_round_to_bf16_(x.clone(), torch.Generator().manual_seed(1))
    assert out[0] == float("inf") and out[1] == -float("inf") and out[2].isnan()
    assert out[3:].tolist() == [0.0, -0.0, 3.0]


def _constant_descent(stochastic, seed=0, steps=20, lr=1e-3):
    """bf16 parameters at 1.0 with a constant gradient: each update is exactly lr."""
    (p,) = params((64, 64), dtype=torch.bfloat16)
    with torch.no_grad():
        p.fill_(1.0)
    opt = Adafactor([p], lr=lr, relative_step=False, scale_parameter=False,
                    stochastic_rounding=stochastic, stochastic_rounding_seed=seed)
    for _ in range(steps):
        p.grad = torch.ones_like(p)
        opt.step()
    return p.detach().float()


def test_stochastic_rounding_accumulates_small_updates():
    nearest = _constant_descent(False)
    assert torch.equal(nearest, torch.ones_like(nearest))  # every update is under half an ulp
    stochastic = _constant_descent(True)
    assert abs(stochastic.mean().item() - (1.0 - 20 * 1e-3)) < 2e-3


def test_stochastic_rounding_is_reproducible_and_seeded():
    a, b, c = _constant_descent(True, seed=3), _constant_descent(True, seed=3), _constant_descent(True, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_stochastic_rounding_leaves_fp32_and_fp16_alone():
    for dtype in (torch.float32, torch.float16):
        ours, theirs = params((5, 4), (7,), dtype=dtype), params((5, 4), (7,), dtype=dtype)
        o, t = Adafactor(ours, stochastic_rounding=True), tf_opt.Adafactor(theirs)
        for p, q in zip(ours, theirs):
            p.grad = q.grad = torch.ones_like(p)
        o.step()
        t.step()
        assert all(torch.equal(p, q) for p, q in zip(ours, theirs))


# -- min_dim_size_to_factor ---------------------------------------------------------------------
def test_min_dim_size_to_factor_chooses_the_state():
    big, small, thin, vec = params((9, 8), (6, 5), (100, 3), (7,))
    opt = Adafactor([big, small, thin, vec], min_dim_size_to_factor=8)
    for p in (big, small, thin, vec):
        p.grad = torch.ones_like(p)
    opt.step()
    assert {"exp_avg_sq_row", "exp_avg_sq_col"} <= set(opt.state[big]) and "exp_avg_sq" not in opt.state[big]
    for p in (small, thin, vec):
        assert "exp_avg_sq_row" not in opt.state[p] and opt.state[p]["exp_avg_sq"].shape == p.shape


def test_unfactored_matrix_matches_transformers_on_the_flattened_tensor():
    """A matrix left unfactored is updated exactly as transformers updates the same data as a vector."""
    ours = params((6, 5), (9, 8), (4, 2, 3))
    flat = [torch.nn.Parameter(p.detach().clone().reshape(-1)) for p in ours[::2]]
    factored_ref = torch.nn.Parameter(ours[1].detach().clone())
    opt = Adafactor(ours, min_dim_size_to_factor=8, beta1=0.9, weight_decay=0.1)
    ref = tf_opt.Adafactor(flat + [factored_ref], beta1=0.9, weight_decay=0.1)
    gen = torch.Generator().manual_seed(5)
    for _ in range(3):
        for p in ours:
            p.grad = torch.randn(p.shape, generator=gen)
        for f, p in zip(flat, ours[::2]):
            f.grad = p.grad.reshape(-1).clone()
        factored_ref.grad = ours[1].grad.clone()
        opt.step()
        ref.step()
    for f, p in zip(flat, ours[::2]):
        assert torch.equal(f.detach(), p.detach().reshape(-1))
    assert torch.equal(factored_ref.detach(), ours[1].detach())


def test_stochastic_rounding_in_combined_batches_stays_within_one_ulp_of_nearest():
    """Stacked and packed bf16 batches: each value is the nearest bf16 or its neighbour."""
    shapes = [(6, 5), (6, 5), (6, 5), (7,), (13,), (64,)]

    def run(stochastic):
        ps = params(*shapes, dtype=torch.bfloat16, seed=3)
        opt = Adafactor(ps, stochastic_rounding=stochastic, stochastic_rounding_seed=9)
        gen = torch.Generator().manual_seed(4)
        for p in ps:
            p.grad = torch.randn(p.shape, generator=gen).to(torch.bfloat16)
        opt.step()
        return ps

    for near, sr in zip(run(False), run(True)):
        steps = (near.detach().view(torch.int16).int() - sr.detach().view(torch.int16).int()).abs()
        assert steps.max() <= 1
    assert any(not torch.equal(a, b) for a, b in zip(run(False), run(True)))


def test_batches_are_capped_at_the_single_thread_grain():
    """Combined batches never exceed STACK_CHUNK elements (so their kernels stay single-threaded)."""
    import random

    from hfopt_adafactor.optimizer import STACK_CHUNK, _chunks

    rng = random.Random(0)
    for _ in range(200):
        sizes = [rng.randint(1, STACK_CHUNK) for _ in range(rng.randint(1, 30))]
        runs = list(_chunks(sizes, STACK_CHUNK))
        assert [i for a, b in runs for i in range(a, b)] == list(range(len(sizes)))
        assert all(b - a == 1 or sum(sizes[a:b]) <= STACK_CHUNK for a, b in runs)
        assert all(sum(sizes[a:b + 1]) > STACK_CHUNK for (a, b), _ in zip(runs, runs[1:]))  # runs are maximal
