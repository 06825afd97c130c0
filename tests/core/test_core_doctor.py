"""Edge cases a user meets: mistyped HFOPT_* variables and values, and distributions whose entry
points are declared twice, provide nothing, or are empty or malformed. Each is reported (warning at
run time, `hfopt doctor` exits 1) with the variable or distribution and the value."""
from __future__ import annotations

import importlib
import json

import pytest
from fakedists import make_dist, schedule_plugin

import hfopt_core
from hfopt_core import HfoptPluginWarning, PluginLoadError, UnknownNameError, get_scheduler
from hfopt_core.cli import main as cli_main


def plugins():
    return {p.name: p for p in hfopt_core.list_plugins()}


def doctor(capsys) -> tuple[int, list[dict]]:
    code = cli_main(["doctor", "--json"])
    return code, json.loads(capsys.readouterr().out)


def write_dist(site, dist: str, entry_points: str) -> None:
    """A dist-info whose entry_points.txt is exactly ``entry_points`` (no module written)."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    importlib.invalidate_caches()


# -- variables --------------------------------------------------------------------------------------
def test_a_mistyped_variable_name_is_warned_about_and_doctor_suggests_the_real_one(site, monkeypatch, capsys):
    monkeypatch.setenv("HFOPT_DISABLE_PLUGIN", "hfopt-schedule-cosine")
    with pytest.warns(HfoptPluginWarning, match="HFOPT_DISABLE_PLUGIN is set but is not an hfopt variable"):
        assert get_scheduler("cosine", None, 1, 10)(1) == 1.0  # no effect, and said so
    code, problems = doctor(capsys)
    assert code == 1
    [problem] = [p for p in problems if p["subject"] == "HFOPT_DISABLE_PLUGIN"]
    assert problem["category"] == "bad-variable" and problem["needs_fixing"]
    assert "did you mean HFOPT_DISABLE_PLUGINS?" in problem["fix"]
    assert cli_main(["doctor"]) == 1
    assert "did you mean HFOPT_DISABLE_PLUGINS?" in capsys.readouterr().out


def test_an_unrelated_hfopt_name_lists_the_variables(site, monkeypatch, capsys):
    monkeypatch.setenv("HFOPT_VERBOSE", "1")
    with pytest.warns(HfoptPluginWarning):
        code, problems = doctor(capsys)
    assert code == 1
    [problem] = [p for p in problems if p["subject"] == "HFOPT_VERBOSE"]
    assert "HFOPT_STRICT_PLUGINS" in problem["fix"] and "did you mean" not in problem["fix"]


def test_variables_of_other_hfopt_components_are_not_typos(site, monkeypatch, capsys):
    monkeypatch.setenv("HFOPT_CACHE_DIR", "/tmp/x")
    assert cli_main(["doctor"]) == 0


def test_an_unrecognised_strict_value_counts_as_set_and_is_reported(site, monkeypatch, capsys):
    make_dist(site, "acme-broken", "0.1", "acme_broken", "raise ImportError('needs libfoo')")
    monkeypatch.setenv("HFOPT_STRICT_PLUGINS", "enabled")
    assert hfopt_core.get_manager().strict  # never silently off
    with pytest.warns(HfoptPluginWarning, match=r"HFOPT_STRICT_PLUGINS='enabled' is neither true .* counts as set"):
        with pytest.raises(PluginLoadError, match="acme-broken==0.1"):
            get_scheduler("cosine", None, 1, 10)
    code, problems = doctor(capsys)
    assert code == 1
    assert {p["subject"] for p in problems if p["category"] == "bad-value"} == {"HFOPT_STRICT_PLUGINS"}


@pytest.mark.parametrize("value", ["0", "false", "off", "no", ""])
def test_false_values_turn_strict_off(site, monkeypatch, capsys, value):
    monkeypatch.setenv("HFOPT_STRICT_PLUGINS", value)
    assert not hfopt_core.get_manager().strict
    assert cli_main(["doctor"]) == 0


def test_a_list_of_only_commas_loads_nothing_and_says_so(site, monkeypatch, capsys):
    monkeypatch.setenv("HFOPT_LOAD_PLUGINS", ",,,")
    with pytest.warns(HfoptPluginWarning, match=r"HFOPT_LOAD_PLUGINS=',,,' names no plugin, so no plugin is loaded"):
        listed = plugins()
    assert listed["hfopt-schedule-cosine"].status == "disabled"
    code, problems = doctor(capsys)
    assert code == 1
    [problem] = [p for p in problems if p["category"] == "bad-value"]
    assert problem["subject"] == "HFOPT_LOAD_PLUGINS" and problem["needs_fixing"]


def test_an_empty_allow_list_is_the_documented_load_none(site, monkeypatch, capsys):
    monkeypatch.setenv("HFOPT_LOAD_PLUGINS", "")
    assert plugins()["hfopt-schedule-cosine"].status == "disabled"
    code, problems = doctor(capsys)
    assert code == 0 and {p["category"] for p in problems} == {"disabled"}


# -- entry points -----------------------------------------------------------------------------------
@pytest.mark.parametrize("declared", [
    "[hfopt]\nacme-twice = acme_twice\nacme-twice = acme_twice\n",  # the same line twice
    "[hfopt]\nacme-twice = acme_twice\nacme-again = acme_twice\n",  # two names, one module
], ids=["same-line-twice", "two-names-one-module"])
def test_an_entry_point_declared_twice_is_one_broken_record_and_provides_nothing(site, capsys, declared):
    make_dist(site, "acme-twice", "1.0", "acme_twice", schedule_plugin("twice", "acme_twice"))
    (site / "acme_twice-1.0.dist-info" / "entry_points.txt").write_text(declared)
    importlib.invalidate_caches()
    with pytest.warns(HfoptPluginWarning, match=r"acme-twice==1.0 declares the hfopt entry point (name|value) "
                                                r"'acme[-_](twice|again)' twice"):
        listed = plugins()
    assert [n for n in listed if n.startswith("acme")] == ["acme-twice"]
    assert listed["acme-twice"].status == "broken" and listed["acme-twice"].provides == ()
    with pytest.raises(UnknownNameError):  # broken means its components are not there either
        get_scheduler("twice", None, 1, 2)
    code, problems = doctor(capsys)
    assert code == 1 and [p["subject"] for p in problems] == ["acme-twice==1.0"]


def test_an_entry_point_that_provides_no_hook_is_broken_with_its_value(site, capsys):
    write_dist(site, "acme-system", "[hfopt]\nacme-system = os:system\n")
    with pytest.warns(HfoptPluginWarning, match=r"entry point 'os:system' of acme-system==1.0 provides no hfopt hook"):
        info = plugins()["acme-system"]
    assert info.status == "broken" and "builtin_function_or_method" in info.reason
    code, problems = doctor(capsys)
    assert code == 1 and "os:system" in problems[0]["message"] and "acme-system==1.0" in problems[0]["message"]
    assert get_scheduler("cosine", None, 1, 10)(1) == 1.0  # the others keep working


@pytest.mark.parametrize("value, why", [("", "it is empty"), ("acme module", "is not 'package.module'"),
                                        (":attr", "is not 'package.module'")])
def test_an_empty_or_malformed_value_is_reported_with_distribution_and_value(site, capsys, value, why):
    write_dist(site, "acme-malformed", f"[hfopt]\nacme-malformed = {value}\n")
    with pytest.warns(HfoptPluginWarning) as caught:
        info = plugins()["acme-malformed"]
    message = str(caught[0].message)
    assert f"acme-malformed==1.0 declares the hfopt entry point 'acme-malformed' with the value {value!r}" in message
    assert why in message and "NoneType" not in message
    assert info.status == "broken" and info.entry_point == value
    code, problems = doctor(capsys)
    assert code == 1 and problems[0]["subject"] == "acme-malformed==1.0"
