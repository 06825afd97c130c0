"""A saved registry schedule is data: restored through the registry only, validated, never imported from the file."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from keras_env import FLAVOUR, ON_TF, keras, needs_tf

from hfopt_core import MissingPluginError, get_scheduler

ROOT = Path(__file__).resolve().parents[2]
LR = 0.01
COSINE = {"name": "cosine", "num_warmup_steps": 2, "num_training_steps": 10, "num_cycles": 0.5}


def cosine_schedule():
    return get_scheduler("cosine", keras.optimizers.Adam(learning_rate=LR), num_warmup_steps=2, num_training_steps=10)


def restore(config):
    schedule = cosine_schedule()
    return type(schedule).from_config(config)


def test_config_is_the_registry_spec_and_the_distribution():
    config = cosine_schedule().get_config()
    assert config == {"schedule": COSINE, "distribution": "hfopt-schedule-cosine", "initial_learning_rate": LR,
                      "name": None}
    assert json.loads(json.dumps(config)) == config  # plain data
    restored = restore(config)
    want = LR * 0.5 * (1 + math.cos(math.pi * (5 - 2) / 8))
    assert float(restored(5)) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize(("key", "value", "error", "match"), [
    ("num_warmup_steps", float("nan"), ValueError, "num_warmup_steps must be a finite number of steps, got nan"),
    ("num_warmup_steps", -3, ValueError, "num_warmup_steps must be a non-negative number of steps, got -3"),
    ("num_training_steps", -5, ValueError, "num_training_steps must be a non-negative number of steps, got -5"),
    ("num_training_steps", "ten", TypeError, "num_training_steps must be a real number"),
    ("num_cycles", [1, 2], TypeError, "num_cycles must be a real number"),
    ("num_cycles", {"class_name": "x"}, TypeError, "num_cycles must be a plain value"),
    ("last_epoch", 3, TypeError, "last_epoch cannot be set from saved data"),
    ("not_an_argument", 1, TypeError, "not_an_argument"),
])
def test_from_config_validates_the_arguments_like_construction(key, value, error, match):
    config = cosine_schedule().get_config()
    config["schedule"] = {**config["schedule"], key: value}
    with pytest.raises(error, match=match.replace("(", r"\(").replace("[", r"\[")):
        restore(config)


@pytest.mark.parametrize(("value", "error", "match"), [
    (-1.0, ValueError, "initial_learning_rate must be a non-negative learning rate, got -1.0"),
    (float("nan"), ValueError, "initial_learning_rate must be a finite learning rate, got nan"),
    ("0.1", TypeError, "initial_learning_rate must be a real number"),
])
def test_from_config_validates_the_initial_learning_rate(value, error, match):
    with pytest.raises(error, match=match):
        restore({**cosine_schedule().get_config(), "initial_learning_rate": value})


def test_a_missing_plugin_names_the_distribution_to_install():
    config = {"schedule": {"name": "exotic", "num_warmup_steps": 2}, "distribution": "hfopt-schedule-exotic",
              "initial_learning_rate": LR, "name": None}
    with pytest.raises(MissingPluginError, match=r"(?s)Unknown schedule 'exotic'.*pip install hfopt-schedule-exotic") \
            as info:
        restore(config)
    assert "read from the data, not verified" in str(info.value)  # the file's claim, not our advice
    # the file's distribution is only echoed when it looks like a distribution name
    with pytest.raises(MissingPluginError) as info:
        restore({**config, "distribution": "x; rm -rf /"})
    assert "rm -rf" not in str(info.value)


def test_unknown_config_keys_are_refused():
    with pytest.raises(TypeError, match="unknown key"):
        restore({**cosine_schedule().get_config(), "formula_path": "os:system"})


def test_a_0_1_config_loads_when_a_registered_schedule_provides_its_formula():
    old = {"formula": "hfopt_schedule_cosine:cosine_multiplier",
           "params": {"num_warmup_steps": 2, "num_training_steps": 10, "num_cycles": 0.5},
           "initial_learning_rate": LR, "name": None}
    restored = restore(old)
    assert restored.get_config()["schedule"] == COSINE
    steps = np.arange(12)
    np.testing.assert_array_equal([float(restored(int(s))) for s in steps],
                                  [float(cosine_schedule()(int(s))) for s in steps])
    with pytest.raises(ValueError, match="num_warmup_steps must be a finite"):
        restore({**old, "params": {**old["params"], "num_warmup_steps": float("nan")}})


@pytest.mark.parametrize("formula", ["builtins:print", "os:system", "this:s", "hfopt_schedule_cosine:os",
                                     "hfopt_core.manager:resolve"])
def test_a_0_1_config_naming_anything_else_is_refused(formula):
    with pytest.raises((ValueError, TypeError), match="formula"):
        restore({"formula": formula, "params": {}, "initial_learning_rate": LR, "name": None})


def test_a_step_function_no_plugin_provides_cannot_be_saved(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "templates" / "hfopt-plugin-template"))
    from my_hfopt_plugin.schedule import get_exponential_schedule

    schedule = get_exponential_schedule(keras.optimizers.Adam(learning_rate=LR), 3, half_life=5.0)
    with pytest.raises(ValueError, match="cannot be saved"):
        schedule.get_config()


# --- tampered files, loaded in a fresh process: nothing outside the registry is imported or called ---

EVIL = """
import pathlib, sys
pathlib.Path(__file__).with_name("imported.marker").write_text("imported")
def run(*args, **kwargs):
    pathlib.Path(__file__).with_name("called.marker").write_text("called")
"""

#: name -> the StepSchedule config written into the file
PAYLOADS = {
    "print": {"formula": "builtins:print", "params": {"sep": "PRINTED-BY-THE-FILE"}, "initial_learning_rate": LR,
              "name": None},
    "system": {"formula": "os:system", "params": {"command": "echo SYSTEM-RAN > {dir}/system.marker"},
               "initial_learning_rate": LR, "name": None},
    "this": {"formula": "this:s", "params": {}, "initial_learning_rate": LR, "name": None},
    "module": {"formula": "c1_evil_module:run", "params": {}, "initial_learning_rate": LR, "name": None},
    "spec-module": {"schedule": {"name": "c1_evil_module:run"}, "distribution": "c1-evil-module",
                    "initial_learning_rate": LR, "name": None},
    "spec-nan": {"schedule": {**COSINE, "num_warmup_steps": float("nan")}, "distribution": "hfopt-schedule-cosine",
                 "initial_learning_rate": LR, "name": None},
    "phase-module": {"schedule": [{"name": "c1_evil_module:run", "steps": 2}, {"name": "constant"}],
                     "distribution": None, "initial_learning_rate": LR, "name": None},
    "argument-keras-object": {"schedule": {**COSINE, "num_cycles": {"module": "c1_evil_module", "class_name": "run",
                                                                     "config": {}, "registered_name": None}},
                              "distribution": None, "initial_learning_rate": LR, "name": None},
}

LOAD = """
import json, sys, traceback
import {flavour} as keras
import hfopt_core
hfopt_core.register_keras_objects()
results = {{}}
paths = json.loads(sys.argv[1])
loaded = None
# the untampered files first: whatever loading a tampered one imports beyond them is reported
for name, path in sorted(paths.items(), key=lambda item: not item[0].startswith("original")):
    if loaded is None and not name.startswith("original"):
        loaded = set(sys.modules)
    try:
        if path.endswith(".json"):  # tf-keras: the optimizer config an .h5 / SavedModel file holds
            optimizer = keras.optimizers.deserialize(json.load(open(path)))
            schedule = optimizer._get_hyper("learning_rate") if hasattr(optimizer, "_get_hyper") else optimizer._learning_rate
        else:
            schedule = keras.models.load_model(path).optimizer._learning_rate
        results[name] = {{"loaded": True, "at_5": float(schedule(5))}}
    except Exception as exc:
        results[name] = {{"loaded": False, "error": type(exc).__name__, "message": str(exc)[-600:]}}
results["modules"] = sorted(m for m in ("this", "c1_evil_module") if m in sys.modules)
results["imported"] = sorted(m for m in set(sys.modules) - loaded if m.partition(".")[0] != "hfopt_core")
print("RESULT " + json.dumps(results))
"""


def _replace_schedule(node, payload):
    if isinstance(node, dict):
        if node.get("registered_name") == "hfopt>StepSchedule" or node.get("class_name") in (
                "StepSchedule", "hfopt>StepSchedule"):
            node["config"] = payload
            return True
        return any([_replace_schedule(v, payload) for v in node.values()])
    if isinstance(node, list):
        return any([_replace_schedule(v, payload) for v in node])
    return False


def _save_files(tmp_path, payloads):
    """The untampered file and one tampered copy per payload: {name: path}."""
    optimizer = keras.optimizers.Adam(learning_rate=LR)
    get_scheduler("cosine", optimizer, num_warmup_steps=2, num_training_steps=10)
    paths = {}
    # the .keras zip (both flavours): its config.json holds the schedule's config
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
    original = tmp_path / "model.keras"
    model.save(original)
    paths["original"] = str(original)
    with zipfile.ZipFile(original) as source:
        members = {n: source.read(n) for n in source.namelist()}
    for name, payload in payloads.items():
        config = json.loads(members["config.json"])
        assert _replace_schedule(config, payload)
        path = tmp_path / f"{name}.keras"
        with zipfile.ZipFile(path, "w") as target:
            for member, data in members.items():
                target.writestr(member, json.dumps(config) if member == "config.json" else data)
        paths[name] = str(path)
    if FLAVOUR == "tf_keras":  # and the optimizer config an .h5 / SavedModel file holds
        config = keras.optimizers.serialize(optimizer)
        (tmp_path / "original.json").write_text(json.dumps(config))
        paths["original-config"] = str(tmp_path / "original.json")
        for name, payload in payloads.items():
            tampered = json.loads(json.dumps(config))
            assert _replace_schedule(tampered, payload)
            (tmp_path / f"{name}.json").write_text(json.dumps(tampered))
            paths[f"{name}-config"] = str(tmp_path / f"{name}.json")
    return paths


@needs_tf
def test_a_tampered_file_imports_and_calls_nothing(tmp_path):
    evil = tmp_path / "evil"
    evil.mkdir()
    (evil / "c1_evil_module.py").write_text(EVIL)
    payloads = json.loads(json.dumps(PAYLOADS).replace("{dir}", str(tmp_path)))
    paths = _save_files(tmp_path, payloads)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(evil), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", LOAD.format(flavour=FLAVOUR), json.dumps(paths)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.split("RESULT ", 1)[1])
    # the untampered file loads and schedules as saved: the check below can tell loaded from refused
    assert results["original"]["loaded"], results["original"]
    assert results["original"]["at_5"] == pytest.approx(LR * 0.5 * (1 + math.cos(math.pi * 3 / 8)), rel=1e-6)
    suffixes = [""] + (["-config"] if FLAVOUR == "tf_keras" else [])
    for suffix in suffixes:
        if suffix:
            assert results["original" + suffix]["at_5"] == results["original"]["at_5"]
        for name in payloads:
            assert not results[name + suffix]["loaded"], (name + suffix, results[name + suffix])
        assert "formula 'builtins:print'" in results["print" + suffix]["message"]
        assert "pip install c1-evil-module" in results["spec-module" + suffix]["message"]
        assert "num_warmup_steps must be a finite" in results["spec-nan" + suffix]["message"]
    assert results["modules"] == []
    # nothing at all is imported for a tampered file beyond what the untampered one needed (hfopt's own modules aside)
    assert results["imported"] == []
    assert "PRINTED-BY-THE-FILE" not in out.stdout + out.stderr
    assert not list(tmp_path.rglob("*.marker"))
