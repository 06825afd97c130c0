"""Plugin discovery time with 200 synthetic third-party plugins installed (target: <= 100 ms).

Discovery = reading the ``hfopt`` entry points, importing every plugin module, calling every
hook and building the registry (``hfopt_core.list_plugins()`` in a fresh process, timed inside it).
"""
from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import Row

N_PLUGINS = 200
REPEATS = 9

PLUGIN = """from hfopt_core.plugin import ScheduleSpec, hookimpl


@hookimpl
def hfopt_schedules():
    yield ScheduleSpec(name="synthetic_{i}", factory="synthetic_plugin_{i}:make", frameworks=("python", "torch"),
                       exports={{"make_synthetic_{i}": "synthetic_plugin_{i}:make"}})
"""

MEASURE = """
import json, time
t0 = time.perf_counter()
import hfopt_core
t1 = time.perf_counter()
plugins = hfopt_core.list_plugins()
hfopt_core.get_manager().lookup("schedule", "cosine")
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "discover": t2 - t1, "plugins": len(plugins)}))
"""


def write_plugins(root: Path, n: int) -> None:
    """Install ``n`` synthetic plugin distributions (module + dist-info) into ``root``."""
    for i in range(n):
        (root / f"synthetic_plugin_{i}.py").write_text(PLUGIN.format(i=i))
        info = root / f"synthetic_plugin_{i}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: synthetic-plugin-{i}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[hfopt]\nsynthetic-plugin-{i} = synthetic_plugin_{i}\n")
    compileall.compile_dir(str(root), quiet=1)  # as pip does at install time


def _measure(extra_path: str | None) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as for installed packages: bytecode is cached
    if extra_path:
        env["PYTHONPATH"] = extra_path + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", MEASURE], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout)


def run() -> list[Row]:
    """Median in-process discovery time with our plugins alone and with 200 more."""
    with tempfile.TemporaryDirectory() as tmp:
        write_plugins(Path(tmp), N_PLUGINS)
        _measure(tmp), _measure(None)
        ours, many = [], []
        for _ in range(REPEATS):
            ours.append(_measure(None))
            many.append(_measure(tmp))
    base = statistics.median(r["discover"] for r in ours)
    loaded = statistics.median(r["discover"] for r in many)
    count = many[0]["plugins"]
    core_import = statistics.median(r["import"] for r in ours)
    return [
        Row("plugin discovery", f"{count} plugins ({N_PLUGINS} synthetic)", "-", loaded, None, "<= 100 ms",
            loaded <= 0.100),
        Row("plugin discovery", f"{ours[0]['plugins']} plugins (this repo's)", "-", base, None, "", None,
            note=f"import hfopt_core itself: {core_import * 1e3:.1f} ms"),
    ]
