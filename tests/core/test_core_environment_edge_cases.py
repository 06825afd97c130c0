"""Hostile environment values: very long and very many names are reported in bounded messages, and
``hfopt doctor`` says what odd ``TF_USE_LEGACY_KERAS`` / ``KERAS_BACKEND`` values really do."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import hfopt_core
from hfopt_core import HfoptPluginWarning
from hfopt_core.cli import main as cli_main


def doctor(capsys) -> tuple[int, list[dict]]:
    code = cli_main(["doctor", "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_very_long_name_is_echoed_cut_with_its_length(site, monkeypatch, capsys):
    monkeypatch.setenv("HFOPT_DISABLE_PLUGINS", "x" * 100_000)
    with pytest.warns(HfoptPluginWarning) as warned:
        code, problems = doctor(capsys)
    assert code == 1
    [problem] = [p for p in problems if p["subject"] == "HFOPT_DISABLE_PLUGINS"]
    assert "(100000 characters)" in problem["message"] and len(problem["message"]) < 300
    assert all(len(str(w.message)) < 2000 for w in warned)


def test_many_unknown_names_are_one_problem_naming_a_few_and_the_count(site, monkeypatch, capsys):
    monkeypatch.setenv("HFOPT_LOAD_PLUGINS", ",".join(f"p{i:05d}" for i in range(20_000)) + ",hfopt-schedule-cosine")
    with pytest.warns(HfoptPluginWarning) as warned:
        listed = {p.name: p for p in hfopt_core.list_plugins()}
    assert listed["hfopt-schedule-cosine"].status == "ok"  # the one real name still counts
    assert listed["hfopt-schedule-linear"].status == "disabled"
    assert len([w for w in warned if "HFOPT_LOAD_PLUGINS names" in str(w.message)]) == 1
    code, problems = doctor(capsys)
    [problem] = [p for p in problems if p["category"] == "unknown-name"]
    assert problem["message"].startswith("HFOPT_LOAD_PLUGINS names 'p00000', 'p00001', 'p00002', 'p00003', 'p00004' "
                                         "and 19995 more, which are not installed hfopt plugins")
    assert code == 1


def test_many_malformed_preferences_are_one_problem(site, monkeypatch, capsys):
    monkeypatch.setenv("HFOPT_PREFER", ",".join(["nonsense"] * 10_000 + ["schedule:cosine=hfopt-schedule-cosine"]))
    with pytest.warns(HfoptPluginWarning):
        code, problems = doctor(capsys)
    [problem] = [p for p in problems if p["category"] == "preference"]
    assert "'nonsense', 'nonsense', 'nonsense', 'nonsense', 'nonsense' and 9995 more are not" in problem["message"]
    assert code == 1


def test_a_long_unknown_variable_name_and_flag_value_are_cut(site, monkeypatch, capsys):
    monkeypatch.setenv("HFOPT_" + "Z" * 5000, "1")
    monkeypatch.setenv("HFOPT_STRICT_PLUGINS", "é" * 5000)
    with pytest.warns(HfoptPluginWarning):
        code, problems = doctor(capsys)
    assert code == 1
    assert {p["category"] for p in problems} >= {"bad-variable", "bad-value"}
    assert all(len(p["message"]) < 400 for p in problems), problems


@pytest.mark.parametrize("value", ["yes", "TRUE", " 1 ", "on", "２"])
def test_a_tf_use_legacy_keras_value_tensorflow_reads_as_false_is_reported(site, monkeypatch, capsys, value):
    from hfopt_core.frameworks import requested_flavour

    monkeypatch.setenv("TF_USE_LEGACY_KERAS", value)
    assert requested_flavour() == "keras"  # TensorFlow's rule: only 1/true/True mean tf-keras
    code, problems = doctor(capsys)
    assert code == 1
    [problem] = [p for p in problems if p["subject"] == "TF_USE_LEGACY_KERAS"]
    assert f"TF_USE_LEGACY_KERAS={value!r} is not a value TensorFlow reads as true" in problem["message"]
    assert "use Keras 3, not tf-keras" in problem["message"] and "TF_USE_LEGACY_KERAS=1" in problem["fix"]


@pytest.mark.parametrize("value", ["1", "true", "True", "0", "false", "False", ""])
def test_tf_use_legacy_keras_values_tensorflow_knows_are_fine(site, monkeypatch, capsys, value):
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", value)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert cli_main(["doctor"]) == 0


@pytest.mark.parametrize("value", ["JAX", "nonsense", " jax", "tensorflow\n"])
def test_a_keras_backend_keras_cannot_import_is_reported(site, monkeypatch, capsys, value):
    monkeypatch.setenv("KERAS_BACKEND", value)
    code, problems = doctor(capsys)
    assert code == 1
    [problem] = [p for p in problems if p["subject"] == "KERAS_BACKEND"]
    assert f"KERAS_BACKEND={value!r} is not a Keras 3 backend" in problem["message"]


def test_keras_really_refuses_a_backend_doctor_reports():
    """The premise of the KERAS_BACKEND check: Keras 3 itself fails to import with ``JAX``."""
    pytest.importorskip("keras")
    env = {**os.environ, "KERAS_BACKEND": "JAX"}
    out = subprocess.run([sys.executable, "-c", "import keras"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "Unable to import backend : JAX" in out.stderr


@pytest.mark.parametrize("value", ["tensorflow", "jax", "torch", "numpy", ""])
def test_keras_backends_keras_knows_are_fine(site, monkeypatch, capsys, value):
    monkeypatch.setenv("KERAS_BACKEND", value)
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    assert cli_main(["doctor"]) == 0


def test_framework_variables_are_not_warned_about_at_load(site, monkeypatch, recwarn):
    monkeypatch.setenv("KERAS_BACKEND", "JAX")
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "yes")
    assert hfopt_core.get_scheduler("cosine", None, 1, 10)(1) == 1.0
    assert not [w for w in recwarn if issubclass(w.category, HfoptPluginWarning)]


def test_a_deprecated_variable_is_a_doctor_note_not_a_failure(site, monkeypatch, capsys):
    monkeypatch.setenv("HFOPT_CACHE_DIR", "/tmp/x")
    code, problems = doctor(capsys)
    assert code == 0
    [note] = [p for p in problems if p["subject"] == "HFOPT_CACHE_DIR"]
    assert note["category"] == "deprecated" and not note["needs_fixing"]
    assert "deprecated and ignored" in note["message"] and note["fix"] == "unset HFOPT_CACHE_DIR"
    monkeypatch.delenv("HFOPT_CACHE_DIR")
    assert not [p for p in doctor(capsys)[1] if p["subject"] == "HFOPT_CACHE_DIR"]


@pytest.mark.parametrize(("name", "meant"), [("hfopt_load_plugins", "HFOPT_LOAD_PLUGINS"),
                                             ("Hfopt_Strict_Plugins", "HFOPT_STRICT_PLUGINS")])
def test_a_variable_in_the_wrong_case_is_a_typo_with_the_real_name(site, monkeypatch, capsys, name, meant):
    if os.name == "nt":
        pytest.skip("Windows environment names are case-insensitive")
    monkeypatch.setenv(name, "hfopt-schedule-cosine")
    with pytest.warns(HfoptPluginWarning, match=f"{name} is set but is not an hfopt variable"):
        code, problems = doctor(capsys)
    assert code == 1
    [problem] = [p for p in problems if p["subject"] == name]
    assert problem["fix"] == f"did you mean {meant} (variable names are upper case)? Rename it"
