"""Entry-point discovery with fake installed distributions: ok, broken, conflicting, disabled."""
from __future__ import annotations

import pytest
from fakedists import make_dist, schedule_plugin

import hfopt_core
from hfopt_core import (
    HfoptPluginWarning,
    PluginConflictError,
    PluginLoadError,
    PluginManager,
    UnknownNameError,
    get_scheduler,
    set_manager,
)
from hfopt_core.cli import main as cli_main


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path for fake distributions, and a fresh manager installed after they exist."""
    monkeypatch.syspath_prepend(str(tmp_path))
    for var in ("HFOPT_LOAD_PLUGINS", "HFOPT_DISABLE_PLUGINS", "HFOPT_STRICT_PLUGINS",
                "HFOPT_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(var, raising=False)
    old = set_manager(None)
    yield tmp_path
    set_manager(old)


def status(name):
    return {p.name: p for p in hfopt_core.list_plugins()}[name]


def test_third_party_plugin_is_found_tagged_and_usable(site):
    make_dist(site, "acme-half", "1.2", "acme_half", schedule_plugin("half", "acme_half"))
    fn = get_scheduler("half", None, num_warmup_steps=1, num_training_steps=2)
    assert fn(7) == 0.5
    info = status("acme-half")
    assert (info.distribution, info.version, info.status, info.provides) == ("acme-half", "1.2", "ok", ("schedule:half",))
    assert hfopt_core.get_manager().lookup("schedule", "half").source == "acme-half==1.2"
    from hfopt_core import get_half_schedule  # facade export of a third-party plugin
    assert get_half_schedule.__module__ == "acme_half"


def test_plugin_that_fails_to_import_is_reported_once_and_others_work(site):
    make_dist(site, "acme-broken", "0.1", "acme_broken", "raise ImportError('needs libfoo')")
    with pytest.warns(HfoptPluginWarning, match=r"acme-broken==0.1 is broken.*needs libfoo") as record:
        assert get_scheduler("linear", None, 2, 10)(1) == 0.5
        get_scheduler("cosine", None, 2, 10)
        hfopt_core.list_plugins()
    assert len([w for w in record if issubclass(w.category, HfoptPluginWarning)]) == 1
    info = status("acme-broken")
    assert info.status == "broken" and "ImportError: needs libfoo" in info.reason


def test_hook_that_raises_or_returns_junk_marks_the_plugin_broken(site):
    make_dist(site, "acme-raises", "1.0", "acme_raises", """
        from hfopt_core import hookimpl
        @hookimpl
        def hfopt_schedules():
            raise RuntimeError("boom")
    """)
    make_dist(site, "acme-junk", "1.0", "acme_junk", """
        from hfopt_core import hookimpl
        @hookimpl
        def hfopt_optimizers():
            return ["not a spec"]
    """)
    with pytest.warns(HfoptPluginWarning):
        plugins = {p.name: p for p in hfopt_core.list_plugins()}
    assert plugins["acme-raises"].status == "broken"
    assert "hook hfopt_schedules raised RuntimeError: boom" in plugins["acme-raises"].reason
    assert plugins["acme-junk"].status == "broken" and "OptimizerSpec" in plugins["acme-junk"].reason
    assert plugins["hfopt-schedule-cosine"].status == "ok"


def test_invalid_spec_is_a_broken_plugin(site):
    make_dist(site, "acme-bad-spec", "1.0", "acme_bad_spec", """
        from hfopt_core import ScheduleSpec, hookimpl
        @hookimpl
        def hfopt_schedules():
            yield ScheduleSpec(name="Bad Name", factory="x:y", frameworks=("python",))
    """)
    with pytest.warns(HfoptPluginWarning, match="names must match"):
        assert status("acme-bad-spec").status == "broken"


def test_conflict_names_both_distributions_at_lookup_only(site):
    make_dist(site, "acme-cosine", "2.0", "acme_cosine", schedule_plugin("cosine", "acme_cosine"))
    assert get_scheduler("linear", None, 1, 3)(2) == 0.5  # other names unaffected
    with pytest.raises(PluginConflictError, match=r"acme-cosine==2\.0 and hfopt-schedule-cosine==0\.1\.0"):
        get_scheduler("cosine", None, 1, 3)


def test_deny_list_resolves_a_conflict(site, monkeypatch):
    make_dist(site, "acme-cosine", "2.0", "acme_cosine", schedule_plugin("cosine", "acme_cosine"))
    monkeypatch.setenv("HFOPT_DISABLE_PLUGINS", "hfopt_schedule_cosine, other")
    assert get_scheduler("cosine", None, 1, 3)(0) == 0.5
    info = status("hfopt-schedule-cosine")
    assert info.status == "disabled" and "HFOPT_DISABLE_PLUGINS" in info.reason


def test_allow_list_loads_only_the_listed_plugins(site, monkeypatch):
    monkeypatch.setenv("HFOPT_LOAD_PLUGINS", "hfopt-schedule-linear")
    assert get_scheduler("linear", None, 2, 4)(1) == 0.5
    with pytest.raises(UnknownNameError) as info:
        get_scheduler("cosine", None, 2, 4)
    message = str(info.value)
    assert "pip install hfopt-schedule-cosine" in message and "Installed schedules: linear." in message
    assert status("hfopt-schedule-cosine").status == "disabled"


def test_empty_allow_list_and_autoload_off_load_nothing(site, monkeypatch):
    monkeypatch.setenv("HFOPT_LOAD_PLUGINS", "")
    assert hfopt_core.get_manager().names("schedule") == []
    set_manager(None)
    monkeypatch.delenv("HFOPT_LOAD_PLUGINS")
    monkeypatch.setenv("HFOPT_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert hfopt_core.list_plugins() == []


def test_strict_mode_makes_plugin_errors_fatal(site, monkeypatch):
    make_dist(site, "acme-broken", "0.1", "acme_broken", "raise ImportError('needs libfoo')")
    monkeypatch.setenv("HFOPT_STRICT_PLUGINS", "1")
    with pytest.raises(PluginLoadError, match="acme-broken==0.1"):
        hfopt_core.list_plugins()


def test_entry_points_are_read_once_per_manager(site, monkeypatch):
    from hfopt_core import entrypoints

    calls = []
    real = entrypoints.entry_points
    monkeypatch.setattr(entrypoints, "entry_points", lambda group: calls.append(group) or real(group))
    for _ in range(3):
        get_scheduler("linear", None, 1, 2)
        hfopt_core.list_plugins()
    assert calls == ["hfopt"]


def test_in_process_registration_like_llm(site):
    manager = PluginManager()
    set_manager(manager)

    class Plugin:
        @hfopt_core.hookimpl
        def hfopt_schedules(self):
            return [hfopt_core.ScheduleSpec(name="half", factory="fake_mod:nothing", frameworks=("python",),
                                            takes=(), requires=())]

    assert "half" not in manager.names("schedule")
    manager.register(Plugin(), name="inline")
    assert manager.lookup("schedule", "half").source == "inline"
    with pytest.raises(ValueError, match="already registered"):
        manager.register(Plugin(), name="inline")
    manager.unregister("inline")
    assert "half" not in manager.names("schedule")


def test_cli_lists_ok_broken_and_disabled(site, monkeypatch, capsys):
    make_dist(site, "acme-broken", "0.1", "acme_broken", "raise ImportError('needs libfoo')")
    monkeypatch.setenv("HFOPT_DISABLE_PLUGINS", "hfopt-schedule-greedy")
    with pytest.warns(HfoptPluginWarning):
        assert cli_main(["list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "ok" in lines["hfopt-schedule-cosine"] and "schedule:cosine" in lines["hfopt-schedule-cosine"]
    assert "broken" in lines["acme-broken"] and "needs libfoo" in lines["acme-broken"]
    assert "disabled" in lines["hfopt-schedule-greedy"]
    assert cli_main(["list", "--strict"]) == 1
