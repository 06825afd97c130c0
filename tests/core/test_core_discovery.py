"""Entry-point discovery with fake installed distributions: identity, faults, strict mode, variables."""
from __future__ import annotations

import importlib
import json
import sys
from importlib.metadata import version

import pytest
from fakedists import make_dist, schedule_plugin

import hfopt_core
from hfopt_core import (
    HfoptPluginWarning,
    MissingPluginError,
    PluginLoadError,
    PluginManager,
    UnknownNameError,
    get_scheduler,
    set_manager,
)
from hfopt_core import manager as manager_module
from hfopt_core.cli import main as cli_main




def plugins():
    return {p.name: p for p in hfopt_core.list_plugins()}


def test_third_party_plugin_is_found_tagged_and_usable(site):
    make_dist(site, "acme-half", "1.2", "acme_half", schedule_plugin("half", "acme_half"))
    fn = get_scheduler("half", None, num_warmup_steps=1, num_training_steps=2)
    assert fn(7) == 0.5
    info = plugins()["acme-half"]
    assert (info.distribution, info.version, info.status, info.provides) == ("acme-half", "1.2", "ok", ("schedule:half",))
    assert info.entry_point == "acme_half"
    assert hfopt_core.get_manager().lookup("schedule", "half").source == "acme-half==1.2"
    from hfopt_core import get_half_schedule  # facade export of a third-party plugin
    assert get_half_schedule.__module__ == "acme_half"


# -- identity -------------------------------------------------------------------------------------
def test_an_entry_point_named_like_another_distribution_shadows_nothing(site):
    make_dist(site, "acme-evil", "1.0", "acme_evil", schedule_plugin("evil", "acme_evil"),
              entry_point_name="hfopt-schedule-linear")
    assert get_scheduler("linear", None, 2, 10)(1) == 0.5
    assert get_scheduler("evil", None, 2, 10)(1) == 0.5
    listed = plugins()
    assert listed["hfopt-schedule-linear"].provides == ("schedule:linear",)
    assert listed["acme-evil"].provides == ("schedule:evil",)


def test_two_distributions_sharing_an_entry_point_name_are_both_loaded_and_listed(site):
    make_dist(site, "acme-one", "1.0", "acme_one", schedule_plugin("one", "acme_one"), entry_point_name="shared")
    make_dist(site, "acme-two", "2.0", "acme_two", schedule_plugin("two", "acme_two"), entry_point_name="shared")
    assert get_scheduler("one", None, 1, 2)(5) == get_scheduler("two", None, 1, 2)(5) == 0.5
    listed = plugins()
    assert (listed["acme-one"].version, listed["acme-two"].version) == ("1.0", "2.0")


# -- faults stay inside the faulty plugin ---------------------------------------------------------
def test_plugin_that_fails_to_import_is_reported_once_and_others_work(site):
    make_dist(site, "acme-broken", "0.1", "acme_broken", "raise ImportError('needs libfoo')")
    with pytest.warns(HfoptPluginWarning, match=r"acme-broken==0.1 is broken.*needs libfoo") as record:
        assert get_scheduler("linear", None, 2, 10)(1) == 0.5
        get_scheduler("cosine", None, 2, 10)
        hfopt_core.list_plugins()
    assert len([w for w in record if issubclass(w.category, HfoptPluginWarning)]) == 1
    info = plugins()["acme-broken"]
    assert info.status == "broken" and "ImportError: needs libfoo" in info.reason


def test_sys_exit_at_import_breaks_only_that_plugin_in_every_call(site):
    make_dist(site, "acme-exit", "0.1", "acme_exit", "import sys\nsys.exit(3)")
    with pytest.warns(HfoptPluginWarning, match="SystemExit: 3"):
        assert get_scheduler("linear", None, 2, 10)(1) == 0.5
    for _ in range(2):  # and every later call still sees the whole registry
        assert get_scheduler("cosine", None, 0, 10)(0) == 1.0
        assert len(hfopt_core.get_manager().names("schedule")) >= 12
    assert plugins()["acme-exit"].status == "broken"


def test_sys_exit_in_a_hook_breaks_only_that_plugin(site):
    make_dist(site, "acme-hook-exit", "0.1", "acme_hook_exit", """
        import sys
        from hfopt_core.plugin import hookimpl
        @hookimpl
        def hfopt_schedules():
            sys.exit("bye")
    """)
    with pytest.warns(HfoptPluginWarning, match="hook hfopt_schedules raised SystemExit: bye"):
        assert get_scheduler("linear", None, 2, 10)(1) == 0.5
    assert get_scheduler("linear", None, 2, 10)(1) == 0.5


def test_hook_that_raises_or_returns_junk_marks_the_plugin_broken(site):
    make_dist(site, "acme-raises", "1.0", "acme_raises", """
        from hfopt_core.plugin import hookimpl
        @hookimpl
        def hfopt_schedules():
            raise RuntimeError("boom")
    """)
    make_dist(site, "acme-junk", "1.0", "acme_junk", """
        from hfopt_core.plugin import hookimpl
        @hookimpl
        def hfopt_optimizers():
            return ["not a spec"]
    """)
    with pytest.warns(HfoptPluginWarning):
        listed = plugins()
    assert listed["acme-raises"].status == "broken"
    assert "hook hfopt_schedules raised RuntimeError: boom" in listed["acme-raises"].reason
    assert listed["acme-junk"].status == "broken" and "OptimizerSpec" in listed["acme-junk"].reason
    assert listed["hfopt-schedule-cosine"].status == "ok"


def test_loading_is_all_or_nothing_per_plugin(site):
    make_dist(site, "acme-half-done", "1.0", "acme_half_done", """
        from hfopt_core.plugin import ScheduleSpec, hookimpl
        @hookimpl
        def hfopt_schedules():
            yield ScheduleSpec(name="half_done", factory="acme_half_done:x", frameworks=("python",))
        @hookimpl
        def hfopt_optimizers():
            raise RuntimeError("second hook fails")
    """)
    with pytest.warns(HfoptPluginWarning, match="second hook fails"):
        names = hfopt_core.get_manager().names("schedule")
    assert "half_done" not in names and "linear" in names
    assert plugins()["acme-half-done"].provides == ()


def test_invalid_spec_is_a_broken_plugin(site):
    make_dist(site, "acme-bad-spec", "1.0", "acme_bad_spec", """
        from hfopt_core.plugin import ScheduleSpec, hookimpl
        @hookimpl
        def hfopt_schedules():
            yield ScheduleSpec(name="Bad Name", factory="x:y", frameworks=("python",))
    """)
    with pytest.warns(HfoptPluginWarning, match="names must match"):
        assert plugins()["acme-bad-spec"].status == "broken"


def test_unknown_hook_is_reported_by_pluggy_validation(site):
    make_dist(site, "acme-typo", "1.0", "acme_typo", """
        from hfopt_core.plugin import hookimpl
        @hookimpl
        def hfopt_schedulez():
            return []
    """)
    with pytest.warns(HfoptPluginWarning, match="unknown hook 'hfopt_schedulez'"):
        assert plugins()["acme-typo"].status == "broken"


def test_undecodable_metadata_breaks_only_its_distribution(site):
    unrelated = site / "unrelated_pkg-1.0.dist-info"
    unrelated.mkdir()
    (unrelated / "METADATA").write_text("Metadata-Version: 2.1\nName: unrelated-pkg\nVersion: 1.0\n")
    (unrelated / "entry_points.txt").write_bytes(b"[console_scripts]\nx = caf\xe9:main\n")
    ours = make_dist(site, "acme-latin1", "1.0", "acme_latin1", schedule_plugin("latin", "acme_latin1"))
    (ours / "entry_points.txt").write_bytes(b"[hfopt]\nacme-latin1 = acme_latin1 # caf\xe9\n")
    importlib.invalidate_caches()
    with pytest.warns(HfoptPluginWarning, match="unreadable metadata: UnicodeDecodeError"):
        listed = plugins()
    assert listed["acme-latin1"].status == "broken"
    assert "unrelated-pkg" not in listed  # not an hfopt plugin: not ours to report
    for _ in range(2):
        assert get_scheduler("linear", None, 2, 10)(1) == 0.5


def test_keyboard_interrupt_propagates_and_leaves_nothing_half_done(site):
    flag = site / "interrupt.flag"
    flag.write_text("1")
    make_dist(site, "acme-interrupt", "1.0", "acme_interrupt", f"""
        import pathlib
        if pathlib.Path({str(flag)!r}).exists():
            raise KeyboardInterrupt
        from hfopt_core.plugin import ScheduleSpec, hookimpl
        @hookimpl
        def hfopt_schedules():
            yield ScheduleSpec(name="after_interrupt", factory="acme_interrupt:x", frameworks=("python",))
    """)
    manager = hfopt_core.get_manager()
    with pytest.raises(KeyboardInterrupt):
        manager.names("schedule")
    assert manager._plugins == {} and manager._pm.get_plugins() == set()
    flag.unlink()
    sys.modules.pop("acme_interrupt", None)
    names = manager.names("schedule")
    assert "after_interrupt" in names and "linear" in names


# -- strict mode ----------------------------------------------------------------------------------
def test_strict_mode_fails_every_lookup_while_a_plugin_is_broken(site, monkeypatch, capsys):
    make_dist(site, "acme-broken", "0.1", "acme_broken", "raise ImportError('needs libfoo')")
    monkeypatch.setenv("HFOPT_STRICT_PLUGINS", "1")
    messages = []
    for _ in range(3):
        with pytest.raises(PluginLoadError, match=r"acme-broken==0.1: failed to import 'acme_broken'") as info:
            get_scheduler("linear", None, 2, 10)
        messages.append(str(info.value))
    assert len(set(messages)) == 1
    with pytest.raises(PluginLoadError):
        from hfopt_core import get_linear_schedule_with_warmup  # noqa: F401
    assert cli_main(["list"]) == 1  # HFOPT_STRICT_PLUGINS alone makes `hfopt list` fail
    assert cli_main(["list", "--json"]) == 1
    assert "acme-broken" in capsys.readouterr().out


def test_list_strict_flag_exits_non_zero_with_and_without_json(site, capsys):
    make_dist(site, "acme-broken", "0.1", "acme_broken", "raise ImportError('needs libfoo')")
    with pytest.warns(HfoptPluginWarning):
        assert cli_main(["list"]) == 0
    assert cli_main(["list", "--strict"]) == 1
    assert cli_main(["list", "--json", "--strict"]) == 1
    out = capsys.readouterr().out
    listed = json.loads(out[out.index("{"):])  # the JSON document printed last
    assert {p["name"]: p["status"] for p in listed["plugins"]}["acme-broken"] == "broken"


# -- the environment variables --------------------------------------------------------------------
def test_deny_list_resolves_a_conflict_and_warns_about_unknown_names(site, monkeypatch):
    make_dist(site, "acme-cosine", "2.0", "acme_cosine", schedule_plugin("cosine", "acme_cosine"))
    monkeypatch.setenv("HFOPT_DISABLE_PLUGINS", "hfopt_schedule_cosine, not-a-plugin")
    with pytest.warns(HfoptPluginWarning, match=r"HFOPT_DISABLE_PLUGINS names 'not-a-plugin'.*installed plugins: "
                                                r"acme-cosine, hfopt-adafactor"):
        assert get_scheduler("cosine", None, 1, 3)(0) == 0.5
    info = plugins()["hfopt-schedule-cosine"]
    assert info.status == "disabled" and "HFOPT_DISABLE_PLUGINS" in info.reason


def test_allow_list_loads_only_the_listed_plugins_and_says_what_is_disabled(site, monkeypatch):
    monkeypatch.setenv("HFOPT_LOAD_PLUGINS", "hfopt-schedule-linear")
    assert get_scheduler("linear", None, 2, 4)(1) == 0.5
    with pytest.raises(UnknownNameError) as info:
        get_scheduler("cosine", None, 2, 4)
    lines = str(info.value).splitlines()
    assert lines == ["Unknown schedule 'cosine'.",
                     f"It is provided by hfopt-schedule-cosine=={version('hfopt-schedule-cosine')}, which is installed but "
                     "disabled: not listed in "
                     "HFOPT_LOAD_PLUGINS; add hfopt-schedule-cosine to HFOPT_LOAD_PLUGINS.",
                     "Installed schedules: linear."]
    assert plugins()["hfopt-schedule-cosine"].status == "disabled"


def test_a_typo_in_the_allow_list_is_warned_about(site, monkeypatch):
    monkeypatch.setenv("HFOPT_LOAD_PLUGINS", "hfopt-schedule-linaer")
    with pytest.warns(HfoptPluginWarning, match=r"HFOPT_LOAD_PLUGINS names 'hfopt-schedule-linaer', which is not an "
                                                r"installed hfopt plugin.*hfopt-schedule-linear"):
        assert hfopt_core.get_manager().names("schedule") == []


def test_autoload_off_lists_installed_plugins_as_disabled(site, monkeypatch, capsys):
    monkeypatch.setenv("HFOPT_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert hfopt_core.get_manager().names("schedule") == []
    listed = plugins()
    assert listed["hfopt-schedule-linear"].status == "disabled"
    assert listed["hfopt-schedule-linear"].reason == "HFOPT_DISABLE_PLUGIN_AUTOLOAD is set"
    assert cli_main(["list"]) == 0
    out = capsys.readouterr().out
    assert "no hfopt plugins installed" not in out and "hfopt-schedule-linear" in out


def test_unknown_names_are_suggested_case_insensitively(site):
    with pytest.raises(UnknownNameError, match="Did you mean 'cosine'") as info:
        get_scheduler("COSINE", None, 1, 2)
    assert info.value.suggestion == "cosine"


def test_install_hint_names_only_a_real_distribution_on_its_own_line(site, monkeypatch):
    real = manager_module.installed_entry_points
    monkeypatch.setattr(manager_module, "installed_entry_points",
                        lambda *a: [p for p in real(*a) if p.distribution != "hfopt-adamw"])
    with pytest.raises(MissingPluginError) as info:
        from hfopt_core import AdamW  # noqa: F401
    assert str(info.value).splitlines() == [
        "AdamW is provided by the distribution 'hfopt-adamw', which is not installed:", "    pip install hfopt-adamw"]
    with pytest.raises(UnknownNameError) as info:
        hfopt_core.get_optimizer("adamw", [])
    assert "\n    pip install hfopt-adamw\n" in str(info.value)


def test_entry_points_are_read_once_per_manager(site, monkeypatch):
    calls = []
    real = manager_module.installed_entry_points
    monkeypatch.setattr(manager_module, "installed_entry_points", lambda *a: calls.append(a) or real(*a))
    for _ in range(3):
        get_scheduler("linear", None, 1, 2)
        hfopt_core.list_plugins()
    assert len(calls) == 1


def test_discovery_matches_importlib_metadata(site):
    from importlib import metadata

    make_dist(site, "acme-half", "1.2", "acme_half", schedule_plugin("half", "acme_half"))
    expected = {(ep.dist.name, ep.value) for ep in metadata.entry_points(group="hfopt")}
    found = {(p.distribution, p.entry_point) for p in manager_module.installed_entry_points()}
    assert found == expected and ("acme-half", "acme_half") in found


def test_in_process_registration_like_llm(site):
    manager = PluginManager(environ={"HFOPT_DISABLE_PLUGIN_AUTOLOAD": "1"})
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
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip()}
    assert "ok" in lines["hfopt-schedule-cosine"] and "schedule:cosine" in lines["hfopt-schedule-cosine"]
    assert "broken" in lines["acme-broken"] and "needs libfoo" in lines["acme-broken"]
    assert "disabled" in lines["hfopt-schedule-greedy"]


def test_a_plugin_cannot_claim_another_distributions_source(site):
    make_dist(site, "acme-spoof", "1.0", "acme_spoof", """
        from hfopt_core.plugin import ScheduleSpec, hookimpl
        @hookimpl
        def hfopt_schedules():
            yield ScheduleSpec(name="spoofed", factory="acme_spoof:x", frameworks=("python",),
                               source="hfopt-schedule-cosine==9.9")
    """)
    assert hfopt_core.get_manager().lookup("schedule", "spoofed").source == "acme-spoof==1.0"


def test_two_distributions_pointing_at_one_module_keep_one(site):
    make_dist(site, "acme-first", "1.0", "acme_shared", schedule_plugin("shared", "acme_shared"))
    info = site / "acme_second-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-second\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[hfopt]\nacme-second = acme_shared\n")
    importlib.invalidate_caches()
    with pytest.warns(HfoptPluginWarning, match=r"is broken and was skipped: ValueError: 'acme_shared' is already "
                                                r"registered as plugin 'acme-(first|second)'"):
        listed = plugins()
    statuses = sorted((listed["acme-first"].status, listed["acme-second"].status))
    assert statuses == ["broken", "ok"]
    assert get_scheduler("shared", None, 1, 2)(0) == 0.5
