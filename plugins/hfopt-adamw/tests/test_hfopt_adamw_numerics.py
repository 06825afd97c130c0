"""hfopt AdamW numbers: every implementation against a float64 reference of transformers' formula."""
from __future__ import annotations

import math

import pytest
import torch
from conftest import available_devices

from hfopt_adamw import AdamW

@pytest.fixture(autouse=True)
def _one_intra_op_thread():
    # torch's fused CPU kernel opens a parallel region per tensor even for tiny ones; with the
    # test workers and the distributed tests' processes sharing 2 cores, that thrashes. The
    # numbers do not depend on the thread count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


IMPLEMENTATIONS = {"fused": dict(fused=True), "foreach": dict(foreach=True), "for-loop": dict(foreach=False),
                   "auto": {}}


def reference_adamw(p0, grads, *, lr, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, correct_bias=True,
                    round_to=None):
    """transformers' AdamW in float64, written from the formula; ``grads[t]`` may be ``None`` (skipped).

    ``round_to`` rounds ``p, m, v`` to that dtype after every step (half-precision storage).
    """
    beta1, beta2 = betas
    p = p0.double().clone()
    m, v = torch.zeros_like(p), torch.zeros_like(p)
    t = 0
    for g in grads:
        if g is None:
            continue
        t += 1
        g = g.double()
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        step_size = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t) if correct_bias else lr
        p = p - step_size * m / (torch.sqrt(v) + eps)
        p = p - lr * weight_decay * p
        if round_to is not None:
            p, m, v = (x.to(round_to).double() for x in (p, m, v))
    return p, m, v


def rel_err(x, ref):
    return (torch.linalg.vector_norm(x.double().cpu() - ref) / torch.linalg.vector_norm(ref)).item()


def _grads(shape, steps, seed=0, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=gen) * scale for _ in range(steps)]


@pytest.mark.parametrize("device", available_devices())
@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
@pytest.mark.parametrize("correct_bias", [True, False])
def test_matches_float64_reference_after_200_steps(device, impl, correct_bias):
    gen = torch.Generator().manual_seed(1)
    shapes = [(7, 5), (33,), (4, 3, 2)]
    inits = [torch.randn(s, generator=gen) for s in shapes]
    grads = [_grads(s, 200, seed=i + 10) for i, s in enumerate(shapes)]
    hyper = dict(lr=3e-3, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.05, correct_bias=correct_bias)
    params = [torch.nn.Parameter(x.clone().to(device)) for x in inits]
    opt = AdamW(params, **hyper, **IMPLEMENTATIONS[impl])
    for t in range(200):
        for p, gs in zip(params, grads):
            p.grad = gs[t].to(device)
        opt.step()
    for p, x, gs in zip(params, inits, grads):
        ref_p, ref_m, ref_v = reference_adamw(x, gs, **hyper)
        assert rel_err(p.detach(), ref_p) < 1e-5
        assert rel_err(opt.state[p]["exp_avg"], ref_m) < 1e-5
        assert rel_err(opt.state[p]["exp_avg_sq"], ref_v) < 1e-5
        assert opt.state[p]["step"].item() == 200


def test_differs_from_torch_adamw_as_documented():
    # torch decays before the update and adds eps after the bias correction: not the same numbers.
    p0, grads = torch.randn(20), _grads((20,), 5, scale=1e-3)
    hyper = dict(lr=0.1, weight_decay=0.5, eps=1e-6)
    ours, theirs = torch.nn.Parameter(p0.clone()), torch.nn.Parameter(p0.clone())
    a, b = AdamW([ours], **hyper), torch.optim.AdamW([theirs], **hyper)
    for g in grads:
        ours.grad, theirs.grad = g.clone(), g.clone()
        a.step(), b.step()
    assert rel_err(ours.detach(), reference_adamw(p0, grads, **hyper)[0]) < 1e-6
    assert not torch.allclose(ours, theirs, rtol=1e-4, atol=0)


@pytest.mark.parametrize("impl", ["fused", "foreach", "for-loop"])
def test_parameters_with_different_step_counts(impl):
    # the second parameter has no gradient on every third step: its bias correction lags.
    p0 = [torch.randn(6), torch.randn(4)]
    g0, g1 = _grads((6,), 30, seed=3), _grads((4,), 30, seed=4)
    g1 = [None if t % 3 == 0 else g for t, g in enumerate(g1)]
    hyper = dict(lr=1e-2, weight_decay=0.1)
    params = [torch.nn.Parameter(x.clone()) for x in p0]
    opt = AdamW(params, **hyper, **IMPLEMENTATIONS[impl])
    for a, b in zip(g0, g1):
        params[0].grad, params[1].grad = a, b
        opt.step()
    assert opt.state[params[0]]["step"].item() == 30
    assert opt.state[params[1]]["step"].item() == 20
    for p, x, gs in zip(params, p0, (g0, g1)):
        assert rel_err(p.detach(), reference_adamw(x, gs, **hyper)[0]) < 1e-6


@pytest.mark.parametrize("impl", ["fused", "foreach", "for-loop"])
@pytest.mark.parametrize("lr, weight_decay", [(0.0, 0.1), (1e-2, 0.0), (0.5, 2.0), (0.25, 3.0)])
def test_edge_hyperparameters(impl, lr, weight_decay):
    # lr = 0 leaves p unchanged; lr * wd == 1 zeroes it; lr * wd > 1 flips its sign.
    p0, grads = torch.randn(9), _grads((9,), 4, seed=5)
    p = torch.nn.Parameter(p0.clone())
    opt = AdamW([p], lr=lr, weight_decay=weight_decay, **IMPLEMENTATIONS[impl])
    for g in grads:
        p.grad = g.clone()
        opt.step()
    ref = reference_adamw(p0, grads, lr=lr, weight_decay=weight_decay)[0]
    assert torch.allclose(p.detach().double(), ref, rtol=1e-5, atol=1e-7)
    if lr == 0.0:
        assert torch.equal(p.detach(), p0)
    if lr * weight_decay == 1.0:
        assert torch.count_nonzero(p.detach()) == 0


@pytest.mark.parametrize("device", available_devices())
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("impl", ["fused", "foreach", "for-loop"])
def test_half_precision_keeps_state_in_dtype_and_computes_in_float32(device, dtype, impl):
    p0, grads = torch.randn(64).to(dtype), [g.to(dtype) for g in _grads((64,), 20, seed=6, scale=0.1)]
    hyper = dict(lr=1e-2, weight_decay=0.1, correct_bias=True)
    p = torch.nn.Parameter(p0.clone().to(device))
    opt = AdamW([p], **hyper, **IMPLEMENTATIONS[impl])
    for g in grads:
        p.grad = g.to(device)
        opt.step()
    assert p.dtype == dtype
    assert opt.state[p]["exp_avg"].dtype == dtype and opt.state[p]["exp_avg_sq"].dtype == dtype
    ref = reference_adamw(p0, grads, **hyper, round_to=dtype)[0]
    tol = torch.finfo(dtype).eps
    assert rel_err(p.detach(), ref) < 2 * tol
    # fp32 math, not half math: a pure-half computation of the same steps drifts much further.
    assert rel_err(p.detach(), reference_adamw(p0, grads, **hyper)[0]) < 8 * tol


def test_implementations_agree_on_a_mixed_model():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.LayerNorm(16), torch.nn.Linear(16, 3))
    x, y = torch.randn(32, 8), torch.randn(32, 3)
    finals = {}
    for impl, kw in IMPLEMENTATIONS.items():
        m = torch.nn.Sequential(*[type(layer)(*args) for layer, args in
                                  zip(model, [(8, 16), (16,), (16, 3)])])
        m.load_state_dict(model.state_dict())
        opt = AdamW(m.parameters(), lr=1e-2, weight_decay=0.01, **kw)
        for _ in range(10):
            opt.zero_grad()
            torch.nn.functional.mse_loss(m(x), y).backward()
            opt.step()
        finals[impl] = torch.cat([p.detach().flatten() for p in m.parameters()])
    for impl, value in finals.items():
        assert rel_err(value, finals["for-loop"].double()) < 1e-6, impl


def test_complex_parameters_are_updated_as_real_pairs():
    p0 = torch.randn(5, dtype=torch.complex64)
    grads = [torch.randn(5, dtype=torch.complex64) for _ in range(5)]
    outs = []
    for kw in (dict(foreach=False), dict(foreach=True), {}):
        p = torch.nn.Parameter(p0.clone())
        opt = AdamW([p], lr=1e-2, weight_decay=0.1, **kw)
        for g in grads:
            p.grad = g.clone()
            opt.step()
        outs.append(torch.view_as_real(p.detach()))
    ref = reference_adamw(torch.view_as_real(p0), [torch.view_as_real(g) for g in grads], lr=1e-2,
                          weight_decay=0.1)[0]
    for out in outs:
        assert rel_err(out, ref) < 1e-6


def test_works_in_a_compiled_training_step():
    torch.manual_seed(0)
    make = lambda: torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    eager_model, compiled_model = make(), make()
    compiled_model.load_state_dict(eager_model.state_dict())
    x, y = torch.randn(16, 4), torch.randn(16, 1)

    def train_step(model, opt):
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss.detach()

    eager_opt = AdamW(eager_model.parameters(), lr=1e-2, weight_decay=0.1)
    compiled_opt = AdamW(compiled_model.parameters(), lr=1e-2, weight_decay=0.1)
    compiled_step = torch.compile(train_step, backend="aot_eager")
    for _ in range(3):
        le, lc = train_step(eager_model, eager_opt), compiled_step(compiled_model, compiled_opt)
        assert torch.allclose(le, lc, rtol=1e-5, atol=1e-7)
    for a, b in zip(eager_model.parameters(), compiled_model.parameters()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)
    assert compiled_opt.state[next(compiled_model.parameters())]["step"].item() == 3


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_foreach_pieces_of_large_tensors_give_the_same_numbers(dtype):
    # > 1M elements: the CPU foreach path works on flat slices; a transposed one stays whole.
    gen = torch.Generator().manual_seed(7)
    shapes = [(1200, 1000), (3,), (700, 1600)]
    inits = [torch.randn(s, generator=gen).to(dtype) for s in shapes]
    grads = [[torch.randn(s, generator=gen).to(dtype) for _ in range(3)] for s in shapes]
    results = {}
    for impl in ("foreach", "for-loop", "fused"):
        params = [torch.nn.Parameter(x.clone()) for x in inits]
        params[2] = torch.nn.Parameter(inits[2].clone().t().contiguous().t())  # non-contiguous
        opt = AdamW(params, lr=1e-2, weight_decay=0.1, **IMPLEMENTATIONS[impl])
        for t in range(3):
            for p, gs in zip(params, grads):
                p.grad = gs[t].clone()
            opt.step()
        results[impl] = [p.detach().double() for p in params]
    for impl in ("foreach", "fused"):
        for a, b in zip(results[impl], results["for-loop"]):
            assert rel_err(a, b) < (1e-6 if dtype == torch.float32 else 4e-3)


@pytest.mark.parametrize("impl", ["fused", "foreach", "for-loop"])
def test_float64_parameters_match_the_reference_tightly(impl):
    p0, grads = torch.randn(40, dtype=torch.float64), [g.double() for g in _grads((40,), 50, seed=8)]
    hyper = dict(lr=1e-2, weight_decay=0.1, correct_bias=True)
    p = torch.nn.Parameter(p0.clone())
    opt = AdamW([p], **hyper, **IMPLEMENTATIONS[impl])
    for g in grads:
        p.grad = g.clone()
        opt.step()
    assert p.dtype == torch.float64
    assert rel_err(p.detach(), reference_adamw(p0, grads, **hyper)[0]) < 1e-12
