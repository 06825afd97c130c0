"""hfopt core: the plugin registry behind transformers' optimization API.

The core knows no implementation. Installed plugins (entry points in group ``"hfopt"``)
register schedules, optimizers and accumulators; :func:`get_scheduler`, :func:`get_optimizer`
and :func:`get_accumulator` resolve names against them, and every public name a plugin exports
is importable from here lazily (``from hfopt_core import AdamW``). The core imports neither
torch nor tensorflow.
"""
from __future__ import annotations

from .api import get_accumulator, get_optimizer, get_scheduler, list_plugins, register_keras_objects
from .compose import optax_schedule
from .errors import (
    FrameworkError,
    HfoptError,
    HfoptPluginWarning,
    MissingPluginError,
    PluginConflictError,
    PluginLoadError,
    UnknownNameError,
)
from .hookspecs import hookimpl, hookspec
from .manager import PluginManager, get_manager, set_manager
from .scheduler_type import SchedulerType
from ._schedules import StepFunction, as_scheduler
from ._scheduler_map import TYPE_TO_SCHEDULER_FUNCTION
from .types import AccumulatorSpec, ComponentSpec, OptimizerSpec, PluginInfo, ScheduleSpec

__all__ = [
    "AccumulatorSpec", "ComponentSpec", "FrameworkError", "HfoptError", "HfoptPluginWarning",
    "MissingPluginError", "OptimizerSpec", "PluginConflictError", "PluginInfo", "PluginLoadError",
    "PluginManager", "ScheduleSpec", "SchedulerType", "StepFunction", "TYPE_TO_SCHEDULER_FUNCTION", "UnknownNameError",
    "as_scheduler", "get_accumulator", "get_manager", "get_optimizer", "get_scheduler", "hookimpl",
    "hookspec", "list_plugins", "optax_schedule", "register_keras_objects", "set_manager",
]


def __getattr__(name: str):
    """Lazily re-export what installed plugins export (``from hfopt_core import AdamW``).

    ``__version__`` is read once from the installed distribution's metadata (its pyproject states it).
    """
    if name == "__version__":
        from ._discovery import metadata

        version = globals()["__version__"] = metadata().version("hfopt-core")
        return version
    if name.startswith("__"):
        raise AttributeError(name)
    from ._catalog import distribution_for_export
    from .manager import _enable_fix, resolve

    manager = get_manager()
    try:
        target = manager.export_target(name)
    except KeyError:
        distribution = distribution_for_export(name)
        if distribution is None:
            raise AttributeError(f"module 'hfopt_core' has no attribute {name!r}") from None
        installed = manager.plugin_for(distribution)
        if installed is None:
            message = f"{name} is provided by the distribution {distribution!r}, which is not installed:\n" \
                      f"    pip install {distribution}"
        else:
            fix = _enable_fix(installed) if installed.status == "disabled" else "run `hfopt doctor`"
            message = f"{name} is provided by {installed.label}, which is installed but {installed.status}: " \
                      f"{installed.reason}; {fix}"
        raise MissingPluginError(message, name=name) from None
    return resolve(target)


def __dir__():
    return sorted(set(globals()) | set(get_manager().exports()))
