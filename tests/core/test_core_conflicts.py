"""Conflicts are visible (`hfopt list`, `hfopt doctor`) and steerable (HFOPT_PREFER, prefer()); pluggy semantics."""
from __future__ import annotations

import json
from importlib.metadata import version

import pytest
from fakedists import make_dist, schedule_plugin

import hfopt_core
from hfopt_core import HfoptPluginWarning, PluginConflictError, PluginManager, get_scheduler, set_manager
from hfopt_core.cli import main as cli_main
from hfopt_core.plugin import ScheduleSpec, hookimpl

COSINE = f"hfopt-schedule-cosine=={version('hfopt-schedule-cosine')}"  # as its pyproject states it




@pytest.fixture
def rival_cosine(site):
    make_dist(site, "acme-cosine", "2.0", "acme_cosine", schedule_plugin("cosine", "acme_cosine"))
    return site


def test_conflict_names_both_distributions_and_the_fix_at_lookup(rival_cosine):
    assert get_scheduler("linear", None, 1, 3)(2) == 0.5  # other names unaffected
    with pytest.raises(PluginConflictError) as info:
        get_scheduler("cosine", None, 1, 3)
    message = str(info.value)
    assert f"acme-cosine==2.0 and {COSINE}" in message
    assert "HFOPT_PREFER=schedule:cosine=acme-cosine" in message


def test_list_marks_names_provided_more_than_once(rival_cosine, capsys):
    assert cli_main(["list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert f"schedule:cosine [conflict: also {COSINE}]" in lines["acme-cosine"]
    assert "schedule:cosine [conflict: also acme-cosine==2.0]" in lines["hfopt-schedule-cosine"]
    assert "1 name(s) provided more than once" in out
    assert cli_main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["conflicts"] == [{"kind": "schedule", "name": "cosine", "preferred": None,
                                    "sources": ["acme-cosine==2.0", COSINE]}]


def test_hfopt_prefer_picks_the_provider_of_one_name_only(rival_cosine, monkeypatch, capsys):
    monkeypatch.setenv("HFOPT_PREFER", "schedule:cosine=hfopt-schedule-cosine")
    spec = hfopt_core.get_manager().lookup("schedule", "cosine")
    assert spec.source == COSINE
    assert get_scheduler("cosine", None, 0, 10)(0) == 1.0  # the real cosine, not acme's constant 0.5
    assert hfopt_core.get_manager().plugin_for("acme-cosine").status == "ok"
    assert cli_main(["list"]) == 0
    out = capsys.readouterr().out
    assert "schedule:cosine [preferred over acme-cosine==2.0]" in out
    assert cli_main(["doctor"]) == 0


def test_prefer_in_code_overrides_the_variable(rival_cosine, monkeypatch):
    monkeypatch.setenv("HFOPT_PREFER", "schedule:cosine=hfopt-schedule-cosine")
    manager = hfopt_core.get_manager()
    manager.prefer("schedule", "cosine", "acme_cosine")
    assert manager.lookup("schedule", "cosine").source == "acme-cosine==2.0"
    assert get_scheduler("cosine", None, 0, 10)(0) == 0.5
    manager.prefer("schedule", "cosine", None)
    assert manager.lookup("schedule", "cosine").source == COSINE  # back to the variable
    with pytest.raises(ValueError, match="kind must be one of"):
        manager.prefer("scheduler", "cosine", "acme-cosine")


def test_a_preference_naming_no_provider_is_an_error_and_a_doctor_finding(rival_cosine, monkeypatch, capsys):
    monkeypatch.setenv("HFOPT_PREFER", "schedule:cosine=acme-cosinus")
    with pytest.raises(PluginConflictError, match="names 'acme-cosinus', which is not one of them"):
        get_scheduler("cosine", None, 1, 3)
    assert cli_main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "schedule:cosine=acme-cosinus names a distribution that does not provide it" in out


def test_malformed_preference_is_warned_about(site, monkeypatch):
    monkeypatch.setenv("HFOPT_PREFER", "cosine=acme")
    with pytest.warns(HfoptPluginWarning, match="HFOPT_PREFER entry 'cosine=acme' is not kind:name=distribution"):
        hfopt_core.get_manager().names("schedule")


def test_doctor_reports_everything_with_its_fix(rival_cosine, monkeypatch, capsys):
    make_dist(rival_cosine, "acme-broken", "0.1", "acme_broken", "raise ImportError('needs libfoo')")
    monkeypatch.setenv("HFOPT_DISABLE_PLUGINS", "hfopt-schedule-greedy,hfopt-schedule-gredy")
    with pytest.warns(HfoptPluginWarning):
        assert cli_main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out and "acme-broken==0.1 is broken" in out
    assert "HFOPT_DISABLE_PLUGINS=acme-broken" in out
    assert "CONFLICT" in out and "HFOPT_PREFER=schedule:cosine=acme-cosine" in out
    assert "UNKNOWN-NAME" in out and "'hfopt-schedule-gredy'" in out
    assert "DISABLED" in out and "remove hfopt-schedule-greedy from HFOPT_DISABLE_PLUGINS" in out
    assert cli_main(["doctor", "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)
    assert {p["category"] for p in problems} == {"broken", "conflict", "unknown-name", "disabled"}
    assert all(p["fix"] for p in problems)


def test_doctor_is_quiet_and_zero_on_a_clean_install(site, capsys):
    assert cli_main(["doctor"]) == 0
    assert "no problems found" in capsys.readouterr().out


# -- pluggy as designed -----------------------------------------------------------------------------
class Extra:
    """An in-process plugin providing one schedule."""

    @hookimpl
    def hfopt_schedules(self):
        return [ScheduleSpec(name="extra", factory="acme:extra", frameworks=("python",))]


class DropLinear:
    """A new-style wrapper: sees every plugin's result and filters it."""

    @hookimpl(wrapper=True)
    def hfopt_schedules(self):
        results = yield
        return [[s for s in specs if s.name != "linear"] for specs in results]


def test_wrapper_hookimpl_wraps_every_plugins_results():
    manager = PluginManager(environ={"HFOPT_LOAD_PLUGINS": "hfopt-schedule-linear,hfopt-schedule-cosine"})
    assert "linear" in manager.names("schedule")
    manager.register(DropLinear(), name="drop-linear")
    manager.register(Extra(), name="extra")
    names = manager.names("schedule")
    assert "linear" not in names and {"cosine", "extra"} <= set(names)
    assert {p.name: p.provides for p in manager.plugins() if p.status == "ok"}["hfopt-schedule-linear"] == ()


def test_a_failing_wrapper_breaks_only_its_plugin():
    class Broken:
        @hookimpl(wrapper=True)
        def hfopt_schedules(self):
            yield
            raise RuntimeError("wrapper bug")

    manager = PluginManager(environ={"HFOPT_LOAD_PLUGINS": "hfopt-schedule-linear"})
    manager.register(Broken(), name="broken-wrapper")
    with pytest.warns(HfoptPluginWarning, match=r"hfopt_schedules \(wrapper\) raised RuntimeError: wrapper bug"):
        assert manager.names("schedule") == ["linear"]
    assert {p.name: p.status for p in manager.plugins()}["broken-wrapper"] == "broken"


def test_hook_ordering_options_are_honoured():
    calls = []

    class First:
        @hookimpl(tryfirst=True)
        def hfopt_schedules(self):
            calls.append("first")
            return []

    class Last:
        @hookimpl(trylast=True)
        def hfopt_schedules(self):
            calls.append("last")
            return []

    manager = PluginManager(environ={"HFOPT_DISABLE_PLUGIN_AUTOLOAD": "1"})
    manager.register(Last(), name="last")
    manager.register(First(), name="first")
    manager.names("schedule")
    assert calls == ["first", "last"]
