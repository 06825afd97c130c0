"""The manager, split by job, keeps its documented import path and uses pluggy's public API only."""
from __future__ import annotations

import pluggy
import pytest
from fakedists import make_dist, schedule_plugin

import hfopt_core
from hfopt_core import PluginLoadError, PluginManager, get_scheduler, hookimpl
from hfopt_core.plugin import ScheduleSpec


def test_the_documented_names_stay_importable_from_hfopt_core_manager():
    from hfopt_core import manager

    for name in ("PluginManager", "get_manager", "set_manager", "Conflict", "Problem", "normalize", "resolve",
                 "installed_entry_points", "ENTRY_POINT_GROUP"):
        assert name in manager.__all__ and hasattr(manager, name), name
    assert manager.normalize("Foo_Bar.baz") == "foo-bar-baz"


def test_a_plugins_functions_and_pluggys_records_are_left_as_they_are(site):
    make_dist(site, "acme-half", "1.0", "acme_half", schedule_plugin("half", "acme_half"))
    assert get_scheduler("half", None, 1, 2)(0) == 0.5
    import acme_half

    original = acme_half.hfopt_schedules
    manager = hfopt_core.get_manager()
    [impl] = [i for i in manager._pm.hook.hfopt_schedules.get_hookimpls() if i.plugin_name == "acme-half"]
    # what pluggy registered is a guarded stand-in built through its public API; the plugin's own
    # function is neither replaced nor wrapped in place
    assert impl.plugin is not acme_half and impl.plugin.plugin is acme_half
    assert acme_half.hfopt_schedules is original and impl.function is not original
    assert impl.function.__wrapped__ is original
    assert [s.source for s in impl.function()] == ["acme-half==1.0"]


def test_pluggy_still_validates_what_the_plugin_declares():
    manager = PluginManager(environ={"HFOPT_DISABLE_PLUGIN_AUTOLOAD": "1"})

    class NotAGenerator:
        @hookimpl(wrapper=True)
        def hfopt_schedules(self):
            return []

    class WrongSignature:
        @hookimpl
        def hfopt_schedules(self, extra):
            return []

    for plugin in (NotAGenerator(), WrongSignature()):
        with pytest.raises(PluginLoadError) as caught:
            manager.register(plugin, name="bad")
        assert isinstance(caught.value.__cause__, pluggy.PluginValidationError)
    assert "bad" not in {p.name for p in manager.plugins()}  # nothing half-registered


def test_tryfirst_and_wrapper_options_reach_pluggy_through_the_stand_in():
    manager = PluginManager(environ={"HFOPT_DISABLE_PLUGIN_AUTOLOAD": "1"})
    order = []

    class Late:
        @hookimpl(trylast=True)
        def hfopt_schedules(self):
            order.append("late")
            return [ScheduleSpec(name="late", factory="x:y", frameworks=("python",))]

    class Early:
        @hookimpl(tryfirst=True)
        def hfopt_schedules(self):
            order.append("early")
            return [ScheduleSpec(name="early", factory="x:y", frameworks=("python",))]

    class DropLate:
        @hookimpl(wrapper=True)
        def hfopt_schedules(self):
            results = yield
            return [[s for s in specs if s.name != "late"] for specs in results]

    for plugin, name in ((Late(), "late"), (Early(), "early"), (DropLate(), "drop")):
        manager.register(plugin, name=name)
    assert manager.names("schedule") == ["early"]
    assert order == ["early", "late"]
