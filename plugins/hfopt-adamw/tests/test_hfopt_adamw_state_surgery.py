"""hfopt AdamW under state surgery: what users (and "move the optimizer" helpers) do between steps.

Every case runs against an independent reference, transformers' AdamW written from its formula in
float64, one parameter at a time, on its own copy of the parameters and state, told about each
surgery. The cases and the randomized sequences run in a subprocess (this file run as a script),
so a kernel that corrupts memory fails the test instead of killing pytest.

Also here: pickle size linear in the number of parameters, and exact integer step counts past
float32's ``2**24`` (a transformers checkpoint at step 20,000,001 resumes and keeps counting).
"""
from __future__ import annotations

import copy
import json
import math
import pickle
import random
import re
import subprocess
import sys
import traceback
from collections import defaultdict

import pytest
import torch

from hfopt_adamw import AdamW

HYPER = dict(betas=(0.9, 0.99), eps=1e-6, weight_decay=0.1)
LR = 0.01
IMPLEMENTATIONS = {"auto": {}, "fused": dict(fused=True), "foreach": dict(foreach=True),
                   "for-loop": dict(foreach=False)}
SHAPES = [(4, 3), (5,), (3, 3), (2, 2, 2), ()]


# -- the reference ---------------------------------------------------------------------------------

class Reference:
    """transformers' AdamW from its formula, in float64, one parameter at a time.

    ``params`` and ``state`` are keyed by the parameter's position in the optimizer (its index in
    ``state_dict``); ``state[i]`` holds a Python-int ``step`` and float64 ``m``, ``v``.
    """

    def __init__(self):
        self.params, self.lrs, self.state = [], [], {}

    def add(self, value: torch.Tensor, lr: float) -> None:
        self.params.append(value.detach().double().clone())
        self.lrs.append(lr)

    def step(self, grads: dict) -> None:
        beta1, beta2 = HYPER["betas"]
        for i, g in grads.items():
            s = self.state.setdefault(i, {"step": 0, "m": torch.zeros_like(self.params[i]),
                                          "v": torch.zeros_like(self.params[i])})
            s["step"] += 1
            t, lr = s["step"], self.lrs[i]
            s["m"] = beta1 * s["m"] + (1 - beta1) * g
            s["v"] = beta2 * s["v"] + (1 - beta2) * g * g
            step_size = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
            p = self.params[i] - step_size * s["m"] / (s["v"].sqrt() + HYPER["eps"])
            self.params[i] = p - lr * HYPER["weight_decay"] * p


# -- the driver: one optimizer, its parameters, the reference, and the surgeries -------------------

class Run:
    """An ``AdamW`` with implementation ``impl`` and a :class:`Reference` kept in step."""

    def __init__(self, impl: str, seed: int):
        gen = torch.Generator().manual_seed(seed)
        self.params = [torch.nn.Parameter(torch.randn(s, generator=gen)) for s in SHAPES]
        self.opt = AdamW(self.params, lr=LR, **HYPER, **IMPLEMENTATIONS[impl])
        self.ref = Reference()
        for p in self.params:
            self.ref.add(p, LR)
        self.gen = torch.Generator().manual_seed(seed + 1000)
        self.saved = None

    def state(self, i: int) -> dict:
        return self.opt.state.get(self.params[i]) or {}

    # steps
    def step(self, which=None) -> None:
        """A step where the parameters in ``which`` (default: all) have a gradient."""
        which = range(len(self.params)) if which is None else which
        grads = {}
        for i, p in enumerate(self.params):
            p.grad = None
            if i in which:
                g = torch.randn(p.shape, generator=self.gen)
                p.grad = g.to(p.dtype)
                grads[i] = p.grad.double()
        self.opt.step()
        self.ref.step(grads)

    # surgeries that keep the numbers: the reference is not told
    def swap_param_data(self, i):
        self.params[i].data = self.params[i].data.clone()

    def swap_param_layout(self, i):  # same values, transposed storage (non-contiguous when 2-D)
        p = self.params[i]
        p.data = p.data.t().contiguous().t() if p.dim() == 2 else p.data.clone()

    def swap_moment_data(self, i, key="exp_avg"):
        if key in self.state(i):
            self.state(i)[key].data = self.state(i)[key].data.clone()

    def swap_step_data(self, i):
        if "step" in self.state(i):
            self.state(i)["step"].data = self.state(i)["step"].data.clone()

    def move_dtype(self, i, dtype=None):
        """The parameter, its gradient-to-be and its state moved to another dtype together."""
        p = self.params[i]
        dtype = dtype or (torch.float64 if p.dtype == torch.float32 else torch.float32)
        p.data = p.data.to(dtype)
        for key in ("exp_avg", "exp_avg_sq"):
            if key in self.state(i):
                self.state(i)[key].data = self.state(i)[key].data.to(dtype)

    # surgeries the reference follows
    def set_step(self, i, count=7):
        if "step" in self.state(i):
            self.state(i)["step"].data = torch.tensor(float(count))
            self.ref.state[i]["step"] = count

    def fill_step(self, i, count=11):
        if "step" in self.state(i):
            self.state(i)["step"].fill_(count)
            self.ref.state[i]["step"] = count

    def zero_moment(self, i):
        if "exp_avg" in self.state(i):
            self.state(i)["exp_avg"].zero_()
            self.ref.state[i]["m"].zero_()

    def del_state(self, i):
        self.opt.state.pop(self.params[i], None)
        self.ref.state.pop(i, None)

    def empty_state(self, i):
        self.opt.state[self.params[i]] = {}
        self.ref.state.pop(i, None)

    def clear_state(self):
        self.opt.state.clear()
        self.ref.state.clear()

    def new_state_map(self):
        self.opt.state = defaultdict(dict)
        self.ref.state.clear()

    def set_lr(self, lr):
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.ref.lrs = [lr] * len(self.ref.lrs)

    def save(self):
        self.saved = (copy.deepcopy(self.opt.state_dict()), [p.detach().clone() for p in self.params],
                      copy.deepcopy(self.ref.state), list(self.ref.params), list(self.ref.lrs))

    def load(self):
        """Back to the last :meth:`save`: the parameters' values, then ``load_state_dict``."""
        if self.saved is None:
            return
        state_dict, values, ref_state, ref_params, ref_lrs = self.saved
        for p, value in zip(self.params, values):
            p.data = value.to(p.dtype)
        self.opt.load_state_dict(copy.deepcopy(state_dict))
        self.ref.state, self.ref.params, self.ref.lrs = copy.deepcopy(ref_state), list(ref_params), list(ref_lrs)

    def add_group(self, shape=(3, 2), lr=0.02):
        p = torch.nn.Parameter(torch.randn(shape, generator=self.gen))
        self.params.append(p)
        self.opt.add_param_group({"params": [p], "lr": lr})
        self.ref.add(p, lr)
        self.saved = None  # a state dict of fewer groups no longer loads

    # the comparison
    def check(self, rtol=1e-4, atol=1e-5) -> None:
        saved = self.opt.state_dict()["state"]
        for i, p in enumerate(self.params):
            ref = self.ref.params[i]
            assert torch.allclose(p.detach().double(), ref, rtol=rtol, atol=atol), \
                (i, (p.detach().double() - ref).abs().max().item())
            state = self.state(i)
            assert bool(state) == (i in self.ref.state), (i, sorted(state), i in self.ref.state)
            if not state:
                continue
            ref_state = self.ref.state[i]
            assert state["step"].item() == ref_state["step"], (i, state["step"].item(), ref_state["step"])
            for key, ref_key in (("exp_avg", "m"), ("exp_avg_sq", "v")):
                live = state[key]
                assert live.shape == p.shape and live.dtype == p.dtype, (i, key, live.shape, live.dtype)
                assert torch.allclose(live.double(), ref_state[ref_key], rtol=rtol, atol=atol), (i, key)
                # the state dict saves the real moments, not a stale copy
                assert torch.equal(saved[i][key], live), (i, key)
            assert saved[i]["step"].item() == ref_state["step"]


# -- surgeries that must be followed ---------------------------------------------------------------

FOLLOWED = {
    "p.data = p.data.clone()": lambda r: r.swap_param_data(0),
    "p.data = transposed copy (non-contiguous)": lambda r: r.swap_param_layout(0),
    "exp_avg.data = exp_avg.data.clone()": lambda r: r.swap_moment_data(0, "exp_avg"),
    "exp_avg_sq.data = exp_avg_sq.data.clone()": lambda r: r.swap_moment_data(2, "exp_avg_sq"),
    "step.data = step.data.clone()": lambda r: r.swap_step_data(1),
    "step.data = tensor(7.)": lambda r: r.set_step(1, 7),
    "step.fill_(11) in place": lambda r: r.fill_step(3, 11),
    "exp_avg.zero_() in place": lambda r: r.zero_moment(0),
    "del opt.state[p]": lambda r: r.del_state(2),
    "opt.state[p] = {}": lambda r: r.empty_state(2),
    "opt.state.clear()": lambda r: r.clear_state(),
    "opt.state = defaultdict(dict)": lambda r: r.new_state_map(),
    "group lr changed": lambda r: r.set_lr(0.003),
    "load_state_dict of an earlier step": lambda r: r.load(),
    "add_param_group": lambda r: r.add_group(),
    "parameter and state moved to float64": lambda r: r.move_dtype(0, torch.float64),
    "moved to float64 and back": lambda r: (r.move_dtype(1, torch.float64), r.step(), r.move_dtype(1, torch.float32)),
}


def _followed(impl: str, name: str) -> None:
    run = Run(impl, seed=3)
    run.step()
    run.save()
    run.step()
    run.step(which=[0, 1, 2, 3])  # one parameter without a gradient: the checking loop
    run.step()                    # all of them: the cached buckets
    run.step()
    run.check()
    FOLLOWED[name](run)
    for _ in range(3):
        run.step()
        run.check()


# -- surgeries that must be refused before anything changes -----------------------------------------

def _moment(run, i, key):
    return run.opt.state[run.params[i]][key]


REFUSED = {
    "exp_avg.data = smaller tensor": (lambda r: setattr(_moment(r, 0, "exp_avg"), "data", torch.zeros(3)),
                                      ValueError, r"'exp_avg' of parameter 0 .*shape \(3,\).*parameter shape \(4, 3\)"),
    "exp_avg.data = same numel, other shape": (
        lambda r: setattr(_moment(r, 0, "exp_avg"), "data", torch.zeros(3, 4)),
        ValueError, r"'exp_avg' of parameter 0 .*shape \(3, 4\).*parameter shape \(4, 3\)"),
    "exp_avg_sq.data = float64": (
        lambda r: setattr(_moment(r, 2, "exp_avg_sq"), "data", _moment(r, 2, "exp_avg_sq").data.double()),
        ValueError, r"'exp_avg_sq' of parameter 2 .*dtype torch.float64"),
    "exp_avg.data = itself viewed as int32 (same storage)": (
        lambda r: setattr(_moment(r, 1, "exp_avg"), "data", _moment(r, 1, "exp_avg").data.view(torch.int32)),
        ValueError, r"'exp_avg' of parameter 1 .*dtype torch.int32"),
    "exp_avg.resize_(2)": (lambda r: _moment(r, 1, "exp_avg").resize_(2), ValueError,
                           r"'exp_avg' of parameter 1 .*shape \(2,\)"),
    "exp_avg.set_(smaller storage)": (lambda r: _moment(r, 0, "exp_avg").set_(torch.zeros(2)), ValueError,
                                      r"'exp_avg' of parameter 0 .*shape \(2,\)"),
    "p.data = other shape": (lambda r: setattr(r.params[0], "data", torch.zeros(6)), ValueError,
                             r"parameter 0 .*parameter shape \(6,\)"),
    "p.data = float64 (state left in float32)": (
        lambda r: setattr(r.params[1], "data", r.params[1].data.double()), ValueError,
        r"parameter 1 .*parameter shape \(5,\), dtype torch.float64"),
    "grad.data = smaller tensor": (lambda r: setattr(r.params[0].grad, "data", torch.zeros(2)), ValueError,
                                   r"gradient of parameter 0 .*gradient shape \(2,\)"),
    "step.fill_(nan) in place": (lambda r: _moment(r, 3, "step").fill_(math.nan), ValueError,
                                 r"'step' of parameter 3 .* is nan"),
    "step.data = tensor(2**53)": (lambda r: setattr(_moment(r, 3, "step"), "data", torch.tensor(2.0 ** 53,
                                                                                               dtype=torch.float64)),
                                  ValueError, r"'step' of parameter 3 .* is 9007199254740992.0; step counts above"),
}


def _refused(impl: str, name: str) -> None:
    run = Run(impl, seed=4)
    for _ in range(3):
        run.step()
    # the next gradients, then the surgery: the step must refuse it and change nothing
    for p in run.params:
        p.grad = torch.randn(p.shape, generator=run.gen)
    breaker, error, match = REFUSED[name]
    breaker(run)
    before = ([p.detach().clone() for p in run.params],
              {i: {k: v.clone() for k, v in run.state(i).items()} for i in range(len(run.params))})
    try:
        run.opt.step()
    except error as e:
        assert re.search(match, str(e)), f"message {str(e)!r} lacks {match!r}"
    else:
        raise AssertionError(f"{name}: step() did not raise {error.__name__}")
    for p, value in zip(run.params, before[0]):
        assert p.dtype == value.dtype and p.shape == value.shape and torch.equal(p.detach(), value)
    for i, state in before[1].items():
        live = run.state(i)
        for key, value in state.items():
            assert live[key].shape == value.shape, (i, key)
            torch.testing.assert_close(live[key], value, rtol=0, atol=0, equal_nan=True)


# -- randomized sequences --------------------------------------------------------------------------

def _random_sequence(impl: str, seed: int, length: int = 40) -> None:
    rng = random.Random(seed)
    run = Run(impl, seed)
    log = []
    surgeries = [
        ("swap_param_data", lambda: run.swap_param_data(rng.randrange(len(run.params)))),
        ("swap_param_layout", lambda: run.swap_param_layout(rng.randrange(len(run.params)))),
        ("swap_moment_data", lambda: run.swap_moment_data(rng.randrange(len(run.params)),
                                                          rng.choice(["exp_avg", "exp_avg_sq"]))),
        ("swap_step_data", lambda: run.swap_step_data(rng.randrange(len(run.params)))),
        ("set_step", lambda: run.set_step(rng.randrange(len(run.params)), rng.randrange(1, 50))),
        ("fill_step", lambda: run.fill_step(rng.randrange(len(run.params)), rng.randrange(1, 50))),
        ("zero_moment", lambda: run.zero_moment(rng.randrange(len(run.params)))),
        ("del_state", lambda: run.del_state(rng.randrange(len(run.params)))),
        ("empty_state", lambda: run.empty_state(rng.randrange(len(run.params)))),
        ("clear_state", run.clear_state),
        ("new_state_map", run.new_state_map),
        ("set_lr", lambda: run.set_lr(rng.choice([0.001, 0.005, 0.02]))),
        ("save", run.save),
        ("load", run.load),
        ("add_group", lambda: run.add_group(rng.choice([(2,), (3, 2), (2, 2)]), rng.choice([0.01, 0.03]))
         if len(run.params) < 8 else None),
        ("move_dtype", lambda: run.move_dtype(rng.randrange(len(run.params)))),
    ]
    try:
        for _ in range(length):
            if rng.random() < 0.5:
                which = [i for i in range(len(run.params)) if rng.random() < 0.85]
                log.append(f"step {which}")
                run.step(which)
                run.check()
            else:
                name, surgery = rng.choice(surgeries)
                log.append(name)
                surgery()
        run.step()
        run.check()
    except Exception as error:
        raise AssertionError(f"{impl}, seed {seed}, after {log[-8:]}: {error!r}") from error


# -- subprocess entry point ------------------------------------------------------------------------

def _main(what: str) -> None:
    torch.set_num_threads(1)
    results = {}
    for impl in IMPLEMENTATIONS:
        jobs = {"followed": [(n, _followed, (impl, n)) for n in FOLLOWED],
                "refused": [(n, _refused, (impl, n)) for n in REFUSED],
                "random": [(f"seed {s}", _random_sequence, (impl, s)) for s in range(6)]}[what]
        for name, fn, args in jobs:
            try:
                fn(*args)
                results[f"{impl}/{name}"] = "ok"
            except Exception:
                results[f"{impl}/{name}"] = traceback.format_exc(limit=3)[-1500:]
    print(json.dumps(results))


def _failures(what: str) -> dict:
    """Run one family of cases (every implementation) in a subprocess; ``{case: traceback}`` of the failed."""
    run = subprocess.run([sys.executable, __file__, what], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"subprocess died with {run.returncode}:\n{run.stderr[-3000:]}"
    results = json.loads(run.stdout.strip().splitlines()[-1])
    expected = {"followed": len(FOLLOWED), "refused": len(REFUSED), "random": 6}[what] * len(IMPLEMENTATIONS)
    assert len(results) == expected
    return {case: outcome for case, outcome in results.items() if outcome != "ok"}


def test_surgery_between_steps_takes_effect_at_the_next_step():
    # every FOLLOWED case on every implementation (one subprocess for all: each would cost an import of torch)
    failures = _failures("followed")
    assert not failures, "\n\n".join(f"{case}:\n{outcome}" for case, outcome in failures.items())


def test_surgery_that_breaks_the_state_is_refused_before_anything_changes():
    failures = _failures("refused")
    assert not failures, "\n\n".join(f"{case}:\n{outcome}" for case, outcome in failures.items())


def test_random_state_surgery_matches_the_one_parameter_reference():
    # 6 seeded sequences of 40 steps and surgeries on each implementation
    failures = _failures("random")
    assert not failures, "\n\n".join(f"{case}:\n{outcome}" for case, outcome in failures.items())


def test_the_reference_is_transformers_formula():
    # the reference itself against the closed form of the first step: m = 0.1 g, v = 0.01 g**2,
    # step size lr * sqrt(1 - 0.99) / (1 - 0.9), so p moves by lr * sign(g) / (1 + eps/|g|) before decay
    ref = Reference()
    ref.add(torch.tensor([1.0, -2.0]), 0.01)
    ref.step({0: torch.tensor([0.5, -4.0], dtype=torch.float64)})
    g = torch.tensor([0.5, -4.0], dtype=torch.float64)
    moved = torch.tensor([1.0, -2.0], dtype=torch.float64) - 0.01 * g.sign() * g.abs() / (g.abs() + 1e-6 / 0.1)
    assert torch.allclose(ref.params[0], moved * (1 - 0.01 * 0.1), rtol=1e-12, atol=0)
    assert ref.state[0]["step"] == 1


# -- pickle size -----------------------------------------------------------------------------------

def _pickled_sizes(n: int) -> tuple[int, int]:
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(n)]
    ours, theirs = AdamW(params, lr=0.1), torch.optim.AdamW(params, lr=0.1, foreach=False)
    for p in params:
        p.grad = torch.ones(2)
    ours.step()
    theirs.step()
    return len(pickle.dumps(ours)), len(pickle.dumps(theirs))


def test_pickled_optimizer_is_linear_in_the_number_of_parameters():
    # each live step count is a view of one buffer; pickled as such, each would carry the whole
    # buffer (3000 parameters gave 39.6 MB against torch's 3.6 MB)
    small_ours, small_torch = _pickled_sizes(200)
    large_ours, large_torch = _pickled_sizes(800)
    assert small_ours < 1.3 * small_torch and large_ours < 1.3 * large_torch
    assert large_ours < 4.4 * small_ours  # 4x the parameters, about 4x the bytes


def test_pickle_and_deepcopy_round_trip_and_keep_counting():
    params = [torch.nn.Parameter(torch.ones(3)) for _ in range(4)]
    opt = AdamW(params, lr=0.1)
    for _ in range(2):
        for p in params:
            p.grad = torch.full((3,), 0.5)
        opt.step()
    for clone in (pickle.loads(pickle.dumps(opt)), copy.deepcopy(opt)):
        live = list(clone.state.values())
        assert all(s["step"]._base is None and s["step"].item() == 2 for s in live)
        twin_params = clone.param_groups[0]["params"]
        for p in twin_params:
            p.grad = torch.full((3,), 0.5)
        clone.step()
        assert [clone.state[p]["step"].item() for p in twin_params] == [3.0] * 4
    assert all(opt.state[p]["step"].item() == 2 for p in params)  # the original is untouched


# -- exact step counts -----------------------------------------------------------------------------

def _transformers_checkpoint(step: int, impl: dict):
    """A model stepped once, with its state saved as transformers' AdamW did (``step`` a Python int)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, **impl)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    saved = copy.deepcopy(opt.state_dict())
    for param_state in saved["state"].values():
        param_state["step"] = step
    return model, saved


@pytest.mark.parametrize("impl", list(IMPLEMENTATIONS))
def test_a_transformers_checkpoint_past_2_24_resumes_and_counts_exactly(impl):
    start = 20_000_001  # float32 rounds it to 20,000,000, and 20,000,000 + 1 back to 20,000,000
    model, saved = _transformers_checkpoint(start, IMPLEMENTATIONS[impl])
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    m = {i: s["exp_avg"].double() for i, s in saved["state"].items()}
    v = {i: s["exp_avg_sq"].double() for i, s in saved["state"].items()}
    opt = AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, **IMPLEMENTATIONS[impl])
    opt.load_state_dict(saved)
    grads = [torch.full(p.shape, 0.25) for p in model.parameters()]
    for _ in range(3):
        for p, g in zip(model.parameters(), grads):
            p.grad = g.clone()
        opt.step()
    for i, (p, p0) in enumerate(zip(model.parameters(), before.values())):
        step = opt.state[p]["step"]
        assert step.dtype == torch.float64 and step.item() == start + 3 and int(step.item()) == 20_000_004
        # the reference, with the exact counts start + 1 .. start + 3
        ref, mi, vi, g = p0.double(), m[i], v[i], grads[i].double()
        for t in range(start + 1, start + 4):
            mi, vi = 0.9 * mi + 0.1 * g, 0.999 * vi + 0.001 * g * g
            ref = ref - 1e-3 * math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t) * mi / (vi.sqrt() + 1e-6)
            ref = ref - 1e-3 * 0.01 * ref
        assert torch.allclose(p.detach().double(), ref, rtol=1e-6, atol=1e-7)
    # saved as float64 0-d tensors: torch's AdamW loads them and keeps counting exactly too (not
    # for a group saved with fused=True: torch's loader makes those counts float32, as its fused
    # AdamW keeps them; our loader keeps them, see test_our_fused_checkpoint_past_2_24_reloads_exactly)
    state_dict = opt.state_dict()
    assert {s["step"].dtype for s in state_dict["state"].values()} == {torch.float64}
    if impl == "fused":
        return
    theirs = torch.optim.AdamW(model.parameters(), lr=1e-3)
    theirs.load_state_dict(state_dict)
    model(torch.randn(4, 3)).sum().backward()
    theirs.step()
    assert all(theirs.state[p]["step"].item() == start + 4 for p in model.parameters())
    back = AdamW(model.parameters(), lr=1e-3, **IMPLEMENTATIONS[impl])
    back.load_state_dict(theirs.state_dict())
    back.step()
    assert all(back.state[p]["step"].item() == start + 5 for p in model.parameters())


def test_counts_crossing_2_24_move_to_float64_and_stay_exact():
    p = torch.nn.Parameter(torch.ones(2))
    opt = AdamW([p], lr=1e-3)
    p.grad = torch.ones(2)
    opt.step()
    saved = opt.state_dict()  # as torch saves it: a float32 0-d tensor
    saved["state"][0]["step"] = torch.tensor(2.0 ** 24 - 2)
    opt.load_state_dict(saved)
    counts = []
    for _ in range(4):
        opt.step()
        counts.append((opt.state[p]["step"].item(), opt.state[p]["step"].dtype))
    assert counts == [(2 ** 24 - 1, torch.float32), (2 ** 24, torch.float32),
                      (2 ** 24 + 1, torch.float64), (2 ** 24 + 2, torch.float64)]


def test_our_fused_checkpoint_past_2_24_reloads_exactly():
    # torch's loader casts ``step`` to float32 for groups saved with fused=True; ours keeps the count
    p = torch.nn.Parameter(torch.ones(2))
    opt = AdamW([p], lr=1e-3, fused=True)
    p.grad = torch.ones(2)
    opt.step()
    saved = opt.state_dict()
    saved["state"][0]["step"] = torch.tensor(20_000_001.0, dtype=torch.float64)
    again = AdamW([p], lr=1e-3, fused=True)
    again.load_state_dict(saved)
    assert again.state[p]["step"].item() == 20_000_001
    again.step()
    assert again.state[p]["step"].item() == 20_000_002


def test_a_count_that_cannot_be_incremented_exactly_is_refused_at_load_and_at_step():
    p = torch.nn.Parameter(torch.ones(2))
    opt = AdamW([p], lr=1e-3)
    p.grad = torch.ones(2)
    opt.step()
    saved = copy.deepcopy(opt.state_dict())
    saved["state"][0]["step"] = 2 ** 63 - 1
    with pytest.raises(ValueError, match=r"parameter 0 \(param group 0\) is 9223372036854775807; step counts "
                                         r"above 2\*\*53 - 1 = 9007199254740991 cannot be counted exactly"):
        opt.load_state_dict(saved)
    assert opt.state[p]["step"].item() == 1  # the previous state is kept
    saved["state"][0]["step"] = 2 ** 53 - 1  # the largest accepted: its successor is exact
    opt.load_state_dict(saved)
    opt.step()
    assert opt.state[p]["step"].item() == 2 ** 53
    before = p.detach().clone()
    with pytest.raises(ValueError, match=r"is 9007199254740992.0; step counts above 2\*\*53 - 1"):
        opt.step()
    assert torch.equal(p.detach(), before) and opt.state[p]["step"].item() == 2 ** 53


if __name__ == "__main__":
    _main(sys.argv[1])
