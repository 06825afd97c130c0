"""Schedules as data (issue 16) on torch and plain Python: mapping and phase specs, '10%', per-group
floors, metric-driven last phases, state dicts that record spec and horizon.

Expectations come from transformers 4.57.6's schedule functions (the oracle) evaluated at the local
step of each phase, and from closed forms written here.
"""
from __future__ import annotations

import io
import json
import math
import pickle

import pytest
import torch

from hfopt_core import get_manager, get_scheduler
from hfopt_core.specs import normalize_spec, parse_spec

tf_opt = pytest.importorskip("transformers.optimization")


def sgd(*lrs):
    lrs = lrs or (0.1,)
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in lrs]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, lrs)], lr=lrs[0])


def run(sched, opt, steps, metrics=None):
    seen = []
    for i in range(steps):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
    return seen


def flat(rows):
    return [x for row in rows for x in row]


def oracle(function, **kwargs):
    """transformers' multiplier function (its LambdaLR's lambda) for ``kwargs``."""
    return getattr(tf_opt, function)(sgd(1.0), **kwargs).lr_lambdas[0]


def closed_form_schedules():
    return [s for s in get_manager().specs("schedule") if "python" in s.frameworks]


# -- parsing and normalizing -------------------------------------------------------------------------
def test_parse_spec_reads_names_json_and_files(tmp_path):
    phases = [{"name": "constant_with_warmup", "num_warmup_steps": 10, "steps": 10}, {"name": "cosine"}]
    (tmp_path / "s.json").write_text(json.dumps(phases))
    (tmp_path / "s.yaml").write_text("- name: constant_with_warmup\n  num_warmup_steps: 10\n  steps: 10\n"
                                     "- name: cosine\n")
    assert parse_spec("cosine") == "cosine"
    assert parse_spec(' {"name": "cosine", "num_cycles": 1.5} ') == {"name": "cosine", "num_cycles": 1.5}
    assert parse_spec(f"@{tmp_path / 's.json'}") == phases == parse_spec(f"@{tmp_path / 's.yaml'}")


@pytest.mark.parametrize(("text", "error", "message"), [
    ('{"name": "cosine",', ValueError, "spec is not valid JSON"),
    ("@missing.json", ValueError, "cannot read spec file 'missing.json'"),
    ("@spec.txt", ValueError, "spec file must end in .json, .yaml or .yml, got '@spec.txt'"),
    ("   ", ValueError, "spec must be a schedule name, JSON or @file"),
    ("[1, 2", ValueError, "spec is not valid JSON"),
])
def test_parse_spec_refuses_what_is_not_a_spec(text, error, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        parse_spec(text)


def test_percentages_and_fractions_round_down_and_the_last_phase_takes_the_rest():
    spec = [{"name": "constant_with_warmup", "num_warmup_steps": "10%", "steps": "10%"},
            {"name": "linear", "fraction": 0.4, "num_warmup_steps": 0},
            {"name": "cosine", "num_warmup_steps": "0.5%"}]
    phases = normalize_spec(spec, num_training_steps=1005)
    # 10% of 1005 = 100.5 -> 100; 0.4 of 1005 = 402; 0.5% = 5.025 -> 5; the rest = 1005 - 502
    assert [p["steps"] for p in phases] == [100, 402, 503]
    assert [p["num_warmup_steps"] for p in phases] == [100, 0, 5]
    assert normalize_spec({"name": "wsd", "num_decay_steps": "10%"}, "1%", 999) == {
        "name": "wsd", "num_decay_steps": 99, "num_warmup_steps": 9, "num_training_steps": 999}


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: normalize_spec({"name": "cosine", "num_warmup_steps": 3}, 3, 10), TypeError,
     "'num_warmup_steps' given both in the spec and as get_scheduler's argument"),
    (lambda: normalize_spec({"name": "cosine", "num_cycles": 1}, 3, 10, {"num_cycles": 2}), TypeError,
     "'num_cycles' given both in the spec and as a scheduler_specific_kwargs key"),
    (lambda: normalize_spec([{"name": "linear"}, {"name": "cosine"}], None, 10), ValueError,
     "phase 0 \\('linear'\\) needs its length as 'steps' or 'fraction'"),
    (lambda: normalize_spec([{"name": "linear", "steps": 8}, {"name": "cosine", "steps": 8}], None, 10),
     ValueError, "the phases take 16 steps, more than num_training_steps \\(10\\)"),
    (lambda: normalize_spec([{"name": "linear", "steps": 8}], 3, 10), TypeError,
     "num_warmup_steps cannot be combined with a list of phases"),
    (lambda: normalize_spec({"name": "wsd", "num_decay_steps": "10%"}), ValueError,
     "num_decay_steps='10%' is a share of num_training_steps, which is not given"),
    (lambda: normalize_spec({"name": "wsd", "num_decay_steps": "150%"}, 0, 10), ValueError,
     "num_decay_steps must be a percentage of at most 100%"),
    (lambda: normalize_spec([{"name": "linear", "steps": 2.5}], None, 10), TypeError,
     "phase 0 \\('linear'\\) steps must be an int"),
    (lambda: normalize_spec({"num_cycles": 1}), ValueError, "spec needs a 'name'"),
    (lambda: normalize_spec([]), ValueError, "a list of phases must hold at least one phase"),
])
def test_bad_specs_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


# -- a mapping is the name with its arguments ----------------------------------------------------------
@pytest.mark.parametrize("spec", closed_form_schedules(), ids=lambda s: s.name)
def test_a_mapping_spec_builds_what_the_name_builds(spec):
    example = normalize_spec(spec.name, None, 20, dict(spec.example))  # the declared example, '20%' resolved
    extra = {k: v for k, v in example.items() if k not in ("name", "num_training_steps")}
    if spec.name == "polynomial":
        extra["lr_init"] = 1.0
    by_name = get_scheduler(spec.name, None, 4, 20, extra)
    by_mapping = get_scheduler({"name": spec.name, "num_warmup_steps": 4, **extra}, None, num_training_steps=20)
    assert by_mapping == by_name
    opt_a, opt_b = sgd(0.1, 0.02), sgd(0.1, 0.02)
    extra.pop("lr_init", None)
    named = get_scheduler(spec.name, opt_a, 4, 20, extra)
    mapped = get_scheduler(json.loads(json.dumps({"name": spec.name, **extra})), opt_b, 4, 20)
    assert run(mapped, opt_b, 25) == run(named, opt_a, 25)


def test_the_accepted_kwargs_are_computed_once_for_get_scheduler_and_show(capsys):
    from hfopt_core.cli import main

    main(["show", "cosine", "--json"])
    [info] = json.loads(capsys.readouterr().out)
    assert info["scheduler_specific_kwargs"] == ["num_cycles", "last_epoch"]
    get_scheduler("cosine", sgd(), 10, 100, {"last_epoch": -1})  # listed, so accepted
    with pytest.raises(TypeError, match="it accepts: num_cycles, last_epoch"):
        get_scheduler("cosine", sgd(), 10, 100, {"power": 2})


# -- phases -------------------------------------------------------------------------------------------
def test_warmup_then_cosine_follows_transformers_at_local_steps():
    spec = [{"name": "constant_with_warmup", "num_warmup_steps": 100, "steps": 100},
            {"name": "cosine", "num_warmup_steps": 0}]
    opt = sgd(0.5, 0.05)
    sched = get_scheduler(spec, opt, num_training_steps=400)
    warm = oracle("get_constant_schedule_with_warmup", num_warmup_steps=100)
    cosine = oracle("get_cosine_schedule_with_warmup", num_warmup_steps=0, num_training_steps=300)
    expected = [[lr * (warm(t) if t < 100 else cosine(t - 100)) for lr in (0.5, 0.05)] for t in range(400)]
    assert flat(run(sched, opt, 400)) == pytest.approx(flat(expected), rel=1e-12, abs=1e-15)
    plain = get_scheduler(spec, None, num_training_steps=400)
    assert [plain(t) for t in (0, 50, 100, 250, 399)] == pytest.approx(
        [warm(0), warm(50), cosine(0), cosine(150), cosine(299)], rel=1e-15)
    assert pickle.loads(pickle.dumps(plain))(250) == plain(250)


def test_three_phases_with_fractions_wsd_style():
    spec = [{"name": "linear", "num_warmup_steps": 10, "fraction": 0.1},
            {"name": "constant", "fraction": 0.7},
            {"name": "polynomial", "num_warmup_steps": 0, "power": 2.0, "lr_end": 1e-3}]
    opt = sgd(0.1)
    sched = get_scheduler(spec, opt, num_training_steps=200)
    # polynomial's lr_end is absolute: relative to the optimizer's lr (0.1), as transformers reads it
    poly = getattr(tf_opt, "get_polynomial_decay_schedule_with_warmup")(
        sgd(0.1), num_warmup_steps=0, num_training_steps=40, power=2.0, lr_end=1e-3).lr_lambdas[0]
    expected = [0.1 * (t / 10 if t < 10 else max(0.0, (20 - t) / 10)) for t in range(20)]
    expected += [0.1] * 140 + [0.1 * poly(t) for t in range(40)]
    got = [row[0] for row in run(sched, opt, 200)]
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


# -- per-group floors -----------------------------------------------------------------------------------
def test_per_group_floors_follow_each_groups_own_lr():
    lrs, min_lr, total = (0.1, 0.01, 0.002), 1e-3, 30
    default_opt, per_group_opt = sgd(*lrs), sgd(*lrs)
    default = get_scheduler("cosine_with_min_lr", default_opt, 5, total, {"min_lr": min_lr})
    per_group = get_scheduler({"name": "cosine_with_min_lr", "min_lr": min_lr, "per_group": True},
                              per_group_opt, 5, total)
    theirs_opt = sgd(*lrs)
    theirs = tf_opt.get_cosine_with_min_lr_schedule_with_warmup(theirs_opt, 5, total, min_lr=min_lr)
    assert run(default, default_opt, total + 1) == run(theirs, theirs_opt, total + 1)  # default: transformers
    seen = run(per_group, per_group_opt, total + 1)

    def closed(t, lr):  # warmup, then cosine from lr to min_lr (rate min_lr / lr of this group)
        if t < 5:
            return lr * t / 5
        f = 0.5 * (1 + math.cos(math.pi * (t - 5) / (total - 5)))
        return lr * (f * (1 - min_lr / lr) + min_lr / lr)

    assert flat(seen) == pytest.approx([closed(t, lr) for t in range(total + 1) for lr in lrs], rel=1e-12)
    assert seen[-1] == pytest.approx([min_lr] * 3, rel=1e-12)  # every group ends at its floor


def test_per_group_polynomial_lr_end_and_its_errors():
    lrs = (0.1, 0.01, 0.001)
    opt = sgd(*lrs)
    sched = get_scheduler("polynomial", opt, 0, 10, {"lr_end": 1e-4, "per_group": True})
    assert run(sched, opt, 11)[-1] == pytest.approx([1e-4] * 3, rel=1e-9)
    with pytest.raises(TypeError, match="per_group must be True or False, got 'yes'"):
        get_scheduler({"name": "polynomial", "per_group": "yes"}, sgd(), 0, 10)
    with pytest.raises(ValueError, match="per_group=True .* needs a torch optimizer, got python"):
        get_scheduler({"name": "polynomial", "per_group": True, "lr_init": 1.0}, None, 0, 10)


# -- state dicts record spec and horizon ----------------------------------------------------------------
SPEC = [{"name": "constant_with_warmup", "num_warmup_steps": "10%", "steps": "10%"},
        {"name": "cosine_with_min_lr", "num_warmup_steps": 0, "min_lr_rate": 0.1}]


def test_a_phase_spec_resumes_exactly_mid_phase():
    opt = sgd(0.1, 0.03)
    sched = get_scheduler(SPEC, opt, num_training_steps=100)
    run(sched, opt, 37)
    buffer = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buffer)
    expected = run(sched, opt, 63)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)  # plain data: no pickled functions
    assert checkpoint["sched"]["spec"] == normalize_spec(SPEC, num_training_steps=100)
    assert checkpoint["sched"]["horizon"] == 100
    opt2 = sgd(0.1, 0.03)
    resumed = get_scheduler(SPEC, opt2, num_training_steps=100)  # torch's order: scheduler, then both states
    opt2.load_state_dict(checkpoint["opt"])
    resumed.load_state_dict(checkpoint["sched"])
    assert run(resumed, opt2, 63) == expected


def test_loading_into_another_horizon_or_spec_says_what_changed_and_how_to_continue():
    opt = sgd(0.1)
    sched = get_scheduler(SPEC, opt, num_training_steps=100)
    run(sched, opt, 50)
    state = sched.state_dict()
    longer = get_scheduler(SPEC, sgd(0.1), num_training_steps=200)
    with pytest.raises(ValueError, match=r"num_training_steps was 100, is now 200.*allow_changed_spec=True"):
        longer.load_state_dict(state)
    other = get_scheduler({"name": "cosine", "num_warmup_steps": 10}, sgd(0.1), num_training_steps=100)
    with pytest.raises(ValueError, match=r"the spec was .*constant_with_warmup.*, is now .*\"cosine\""):
        other.load_state_dict(state)
    # the documented way on: continue from step 50 on the new horizon
    opt2 = sgd(0.1)
    opt2.load_state_dict(opt.state_dict())
    longer = get_scheduler(SPEC, opt2, num_training_steps=200)
    longer.load_state_dict(state, allow_changed_spec=True)
    fresh = get_scheduler(SPEC, None, num_training_steps=200)
    assert [row[0] for row in run(longer, opt2, 5)][1:] == pytest.approx([0.1 * fresh(t) for t in range(51, 55)])


# -- a metric-driven last phase -------------------------------------------------------------------------
PLATEAU = [{"name": "constant_with_warmup", "num_warmup_steps": 5, "steps": 5},
           {"name": "reduce_lr_on_plateau", "patience": 1, "factor": 0.5}]
METRICS = [1.0] * 5 + [1.0, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7]


def test_warmup_then_plateau_is_one_scheduler():
    opt = sgd(0.1, 0.01)
    sched = get_scheduler(PLATEAU, opt)
    assert isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)  # what Lightning looks for
    seen = run(sched, opt, len(METRICS), METRICS)
    theirs_opt = sgd(0.1, 0.01)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(theirs_opt, patience=1, factor=0.5)
    expected = [[lr * t / 5 for lr in (0.1, 0.01)] for t in range(5)]  # warmup: step() ignores the metric
    for metric in METRICS[5:]:  # then torch's own ReduceLROnPlateau, from the initial lr
        expected.append([g["lr"] for g in theirs_opt.param_groups])
        plateau.step(metric)
    assert flat(seen) == pytest.approx(flat(expected), rel=1e-12)
    assert min(row[0] for row in seen[5:]) < 0.1  # it did reduce
    with pytest.raises(TypeError, match="the 'reduce_lr_on_plateau' phase has begun: call scheduler.step\\(metric\\)"):
        sched.step()


@pytest.mark.parametrize("name, kwargs", [("reduce_lr_on_plateau", {"patience": 1, "factor": 0.5}),
                                          ("greedy", {"patience": 1, "factor": 0.5, "min_lr": 1e-4})])
@pytest.mark.parametrize("stop", [3, 9, 13])  # mid-warmup, mid-plateau twice
def test_warmup_then_metric_phase_resumes_exactly(name, kwargs, stop):
    spec = [PLATEAU[0], {"name": name, **kwargs}]
    opt = sgd(0.1, 0.01)
    sched = get_scheduler(spec, opt)
    run(sched, opt, stop, METRICS)
    buffer = io.BytesIO()
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, buffer)
    expected = run(sched, opt, len(METRICS) - stop, METRICS[stop:])
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    opt2 = sgd(0.1, 0.01)
    resumed = get_scheduler(spec, opt2)  # torch's order: scheduler, then both states
    opt2.load_state_dict(checkpoint["opt"])
    resumed.load_state_dict(checkpoint["sched"])
    assert run(resumed, opt2, len(METRICS) - stop, METRICS[stop:]) == expected


def test_lightning_treats_it_as_a_plateau_scheduler_with_its_monitor():
    lightning_optimizer = pytest.importorskip("lightning.pytorch.core.optimizer")
    sched = get_scheduler(PLATEAU, sgd())
    [config] = lightning_optimizer._configure_schedulers_automatic_opt([{"scheduler": sched, "monitor": "val_loss"}],
                                                                        None)
    assert config.reduce_on_plateau and config.monitor == "val_loss"


def test_a_metric_phase_must_be_last_and_on_torch():
    with pytest.raises(ValueError, match="phase 0 \\('reduce_lr_on_plateau'\\) is metric-driven: only the last phase"):
        get_scheduler([{"name": "reduce_lr_on_plateau", "steps": 3}, {"name": "constant"}], sgd())
    with pytest.raises(ValueError, match="'reduce_lr_on_plateau'.* is metric-driven: it needs a torch optimizer"):
        get_scheduler(PLATEAU, None)


@pytest.mark.parametrize("spec", [SPEC, PLATEAU], ids=["closed-form", "metric-last"])
def test_spec_schedulers_pickle_whole_and_continue_identically(spec):
    opt = sgd(0.1, 0.01)
    sched = get_scheduler(spec, opt, num_training_steps=100 if spec is SPEC else None)
    metrics = METRICS if spec is PLATEAU else None
    run(sched, opt, 8, metrics)
    clone = pickle.loads(pickle.dumps(sched))
    assert type(clone) is type(sched) and clone.spec == sched.spec
    rest = METRICS[8:] if metrics else None
    assert run(clone, clone.optimizer, 8, rest) == run(sched, opt, 8, rest)
