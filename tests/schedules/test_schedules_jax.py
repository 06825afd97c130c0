"""Schedules on JAX: ``get_scheduler(spec, None, ..., framework="jax")`` and ``hfopt_core.optax_schedule``.

The JAX side runs in a fresh interpreter (x64 is a process-wide JAX switch) that imports only jax,
optax and hfopt_core; transformers' values (the oracle) are computed here and sent to it. With
x64, every installed closed-form schedule (with its declared example arguments) and a composite
are within 1e-6 of transformers under ``jax.jit``; without x64 they are float32-accurate and emit
no warning.
"""
from __future__ import annotations

import inspect
import json
import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from hfopt_core import get_manager
from hfopt_core.specs import normalize_spec

pytest.importorskip("jax")
pytest.importorskip("optax")
T = pytest.importorskip("transformers.optimization")
from transformers.trainer_utils import SchedulerType  # noqa: E402

TOTAL, STEPS = 60, list(range(75))

CHILD = textwrap.dedent("""
    import json, sys, warnings
    warnings.simplefilter("error")
    import jax
    jax.config.update("jax_enable_x64", sys.argv[1] == "x64")
    import jax.numpy as jnp
    import optax
    from hfopt_core import get_scheduler, optax_schedule

    cases = json.load(sys.stdin)
    out = {"values": [], "dtype": None}
    for case in cases["schedules"]:
        fn = jax.jit(get_scheduler(case["spec"], None, num_training_steps=case["total"], framework="jax"))
        out["values"].append([float(fn(jnp.asarray(t))) for t in case["steps"]])
        out["dtype"] = str(fn(3).dtype)
    schedule = optax_schedule(cases["optax"]["spec"], cases["optax"]["lr"], num_training_steps=cases["optax"]["total"])
    optimizer = optax.adamw(learning_rate=schedule)
    params = {"w": jnp.ones(3)}
    updates, _ = jax.jit(optimizer.update)({"w": jnp.ones(3)}, optimizer.init(params), params)
    out["optax"] = [float(jax.jit(schedule)(t)) for t in cases["optax"]["steps"]]
    out["finite"] = bool(jnp.all(jnp.isfinite(updates["w"])))
    print(json.dumps(out))
""")


def oracle(spec, total, lr=1.0):
    """transformers' own schedule function for a mapping spec, called with the arguments its signature
    names (its get_scheduler drops inverse_sqrt's timescale, a bug hfopt fixes as transformers 5.x does)."""
    data = normalize_spec(spec, None, total)
    function = T.TYPE_TO_SCHEDULER_FUNCTION[SchedulerType(data.pop("name"))]
    names = inspect.signature(function).parameters
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    return function(opt, **{k: v for k, v in data.items() if k in names}).lr_lambdas[0]


PHASES = [{"name": "constant_with_warmup", "num_warmup_steps": 10, "steps": 10},
          {"name": "cosine", "num_warmup_steps": 0, "num_cycles": 0.5}]


def cases():
    schedules, expected = [], []
    for spec in get_manager().specs("schedule"):
        if "python" not in spec.frameworks:
            continue
        mapping = {"name": spec.name, "num_warmup_steps": 6, **spec.example}
        theirs = oracle(mapping, TOTAL)
        if spec.name == "polynomial":
            mapping["lr_init"] = 1.0  # optimizer=None: the initial lr its lr_end is relative to
        schedules.append({"spec": mapping, "total": TOTAL, "steps": STEPS})
        expected.append((spec.name, [theirs(t) for t in STEPS]))
    warm = oracle({"name": "constant_with_warmup", "num_warmup_steps": 10}, 10)
    cosine = oracle({"name": "cosine", "num_warmup_steps": 0}, TOTAL - 10)
    schedules.append({"spec": PHASES, "total": TOTAL, "steps": STEPS})
    expected.append(("composite", [warm(t) if t < 10 else cosine(t - 10) for t in STEPS]))
    optax_case = {"spec": PHASES, "lr": 3e-4, "total": TOTAL, "steps": [0, 5, 20, 59]}
    optax_expected = [3e-4 * (warm(t) if t < 10 else cosine(t - 10)) for t in optax_case["steps"]]
    return {"schedules": schedules, "optax": optax_case}, expected, optax_expected


@pytest.mark.parametrize("mode", ["x64", "float32"])
def test_every_closed_form_schedule_and_a_composite_under_jit(mode):
    payload, expected, optax_expected = cases()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HFOPT_", "JAX_"))}
    env.update(JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    out = subprocess.run([sys.executable, "-c", CHILD, mode], input=json.dumps(payload), capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"cosine", "linear", "polynomial", "inverse_sqrt", "warmup_stable_decay", "composite"} <= {
        name for name, _ in expected}
    assert result["finite"]
    tolerance = 1e-6 if mode == "x64" else 2e-6  # documented: float32 throughout without x64
    assert result["dtype"] == ("float64" if mode == "x64" else "float32")
    for (name, want), got in zip(expected, result["values"]):
        worst = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(got, want))
        assert worst <= tolerance, (name, worst)
    assert result["optax"] == pytest.approx(optax_expected, rel=tolerance * 10, abs=1e-12)


def test_import_hfopt_core_does_not_import_jax_and_jax_needs_no_optimizer():
    code = ("import sys, hfopt_core; assert 'jax' not in sys.modules and 'optax' not in sys.modules;"
            "fn = hfopt_core.get_scheduler('cosine', None, 2, 10, framework='jax'); print(float(fn(5)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout) == pytest.approx(0.5 * (1 + math.cos(math.pi * 3 / 8)), rel=1e-6)
    from hfopt_core import get_scheduler

    with pytest.raises(ValueError, match="framework='jax' builds a step -> multiplier function: pass optimizer=None"):
        get_scheduler("cosine", object(), 2, 10, framework="jax")
    with pytest.raises(ValueError, match="framework must be None .* or 'jax', got 'mxnet'"):
        get_scheduler("cosine", None, 2, 10, framework="mxnet")
