"""Build throwaway installed distributions (dist-info + module) that declare ``hfopt`` entry points."""
from __future__ import annotations

import importlib
import textwrap
from pathlib import Path


def make_dist(root: Path, dist: str, version: str, module: str, source: str, entry_point: str | None = None,
              entry_point_name: str | None = None) -> Path:
    """Write module ``module`` with ``source`` and a ``dist``-``version`` dist-info pointing at it.

    Args:
        root: a folder on ``sys.path``.
        dist: distribution name.
        version: its version.
        module: import name of the plugin module.
        source: the module's code.
        entry_point: entry-point value. Defaults to ``module``.
        entry_point_name: entry-point name. Defaults to ``dist``.

    Returns the dist-info folder.
    """
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[hfopt]\n{entry_point_name or dist} = {entry_point or module}\n")
    importlib.invalidate_caches()
    return info


SCHEDULE_PLUGIN = """
from hfopt_core.plugin import ScheduleSpec, StepFunction, as_scheduler, hookimpl

def half(step, ops):
    return 0.5

def get_half_schedule(optimizer, num_warmup_steps, num_training_steps, scale=1.0, last_epoch=-1):
    return as_scheduler(optimizer, StepFunction(half), last_epoch)

@hookimpl
def hfopt_schedules():
    yield ScheduleSpec(name={name!r}, factory="{module}:get_half_schedule", frameworks=("python", "torch"),
                       exports={{"get_half_schedule": "{module}:get_half_schedule"}})
"""


def schedule_plugin(name: str, module: str) -> str:
    """Source of a plugin registering schedule ``name`` (always 0.5) with factory in ``module``."""
    return SCHEDULE_PLUGIN.format(name=name, module=module)
