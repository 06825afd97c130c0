"""Conformance kit: plugin authors call :func:`check_plugin` from their own tests.

Example::

    from hfopt_core.testing import check_plugin

    def test_conforms():
        check_plugin("my_schedules.plugin", distribution="my-schedules")
"""
from __future__ import annotations

import importlib
import json
import math
import pickle
import subprocess
import sys

from .manager import PluginManager, resolve
from .types import ScheduleSpec

HEAVY = ("torch", "tensorflow", "keras", "tf_keras", "jax")

# Imports the module with a meta-path spy that records, for each framework, the first module
# outside importlib and the framework itself that asked for it (the line to fix).
_PROBE = """
import importlib, json, sys
HEAVY = set({heavy!r})
culprits = {{}}

class Spy:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in HEAVY and top not in culprits:
            frame = sys._getframe(1)
            while frame is not None:
                who = frame.f_globals.get("__name__") or ""
                if who and not who.startswith(("importlib", "_frozen_importlib")) and who.partition(".")[0] not in HEAVY:
                    culprits[top] = [who, frame.f_code.co_filename, frame.f_lineno]
                    break
                frame = frame.f_back
        return None

sys.meta_path.insert(0, Spy())
importlib.import_module({module!r})
print(json.dumps({{k: v for k, v in culprits.items() if k in {{m.partition(".")[0] for m in sys.modules}}}}))
"""


def _heavy_imports(module: str) -> dict[str, tuple[str, str, int]]:
    """``{framework: (importing module, file, line)}`` for each framework importing ``module`` pulls in."""
    out = subprocess.run([sys.executable, "-c", _PROBE.format(module=module, heavy=HEAVY)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"importing {module} failed:\n{out.stderr}")
    return {k: tuple(v) for k, v in json.loads(out.stdout).items()}


def _check_entry_point(distribution: str, module: str, problems: list[str]) -> None:
    from importlib import metadata

    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        problems.append(f"distribution {distribution!r} is not installed")
        return
    eps = [ep for ep in dist.entry_points if ep.group == "hfopt"]
    if len(eps) != 1:
        problems.append(f"{distribution} must declare exactly one entry point in group 'hfopt', found {len(eps)}")
    elif eps[0].name != distribution or eps[0].value != module:
        problems.append(f"{distribution}'s entry point must be `{distribution} = {module}`, "
                        f"found `{eps[0].name} = {eps[0].value}`")


def _check_schedule(spec: ScheduleSpec, kwargs: dict, problems: list[str]) -> None:
    from ._declaration import declaration
    from .specs import resolve_step_counts

    common = {"num_warmup_steps": 2, "num_training_steps": 10}
    try:
        factory = resolve(spec.factory)
        declared = declaration(spec, factory)
        args = {k: common[k] for k in declared.takes}
        args.update(resolve_step_counts({**spec.example, **kwargs}, common["num_training_steps"]))
        if "lr_init" not in args and declared.needs_lr_init(args):
            args["lr_init"] = 1.0  # its floor is relative to the initial lr, which optimizer=None lacks
        fn = factory(None, **args)
    except Exception as exc:
        problems.append(f"schedule {spec.name!r}: factory(None, ...) with the declared example "
                        f"{dict(spec.example)} raised {type(exc).__name__}: {exc} (declare example= arguments "
                        "on its ScheduleSpec, or pass schedule_kwargs to check_plugin, if it needs more)")
        return
    if not callable(fn):
        problems.append(f"schedule {spec.name!r}: factory(None, ...) must return a step -> multiplier callable")
        return
    values = [fn(step) for step in range(14)]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in values):
        problems.append(f"schedule {spec.name!r}: multipliers must be finite and >= 0, got {values}")
    try:
        clone = pickle.loads(pickle.dumps(fn))
        if [clone(step) for step in range(14)] != values:
            problems.append(f"schedule {spec.name!r}: the unpickled step function gives other values")
    except Exception as exc:
        problems.append(f"schedule {spec.name!r}: the step function does not pickle: {exc}")


def check_plugin(module: str, distribution: str | None = None, schedule_kwargs: dict | None = None) -> list:
    """Assert that a plugin module follows the hfopt plugin contract; returns its specs.

    Args:
        module: import name of the module holding the hookimpls (what the entry point names).
        distribution: the installed distribution to check the entry point of; ``None`` skips that.
        schedule_kwargs: ``{schedule name: extra kwargs}`` added to each schedule's declared
            ``example`` arguments, for schedules whose factory needs more than the common step
            counts and whose spec declares no example. Defaults to ``None``.

    Checks: importing the module imports no framework (a failure names the module and line that
    imported it, usually the package ``__init__``); hooks run in a fresh manager and return
    valid specs; every factory and export resolves; each ``"python"`` schedule builds a plain,
    picklable, finite ``step -> multiplier`` from ``factory(None, ...)`` with the step counts its
    signature takes and its declared ``example`` arguments; the distribution
    declares exactly one ``hfopt`` entry point named after itself. Raises ``AssertionError``
    listing every problem found.
    """
    problems: list[str] = []
    for framework, (importer, filename, line) in sorted(_heavy_imports(module).items()):
        problems.append(
            f"importing {module} imports {framework}, pulled in by module {importer} ({filename}, line {line}): "
            "plugin modules and their packages must stay light. Import the framework only where it is used, "
            "and make the package __init__ lazy with hfopt_core.plugin.lazy_exports "
            "(see docs/plugin-authoring.md)")
    if distribution is not None:
        _check_entry_point(distribution, module, problems)
    manager = PluginManager(environ={"HFOPT_DISABLE_PLUGIN_AUTOLOAD": "1", "HFOPT_STRICT_PLUGINS": "1"})
    try:
        manager.register(importlib.import_module(module), name=distribution or module)
        specs = [s for kind in ("schedule", "optimizer", "accumulator") for s in manager.specs(kind)]
    except Exception as exc:
        raise AssertionError(f"{module}: {type(exc).__name__}: {exc}") from exc
    if not specs:
        problems.append(f"{module} registers nothing: implement hfopt_schedules, hfopt_optimizers or hfopt_accumulators")
    for spec in specs:
        for target in (spec.factory, *spec.exports.values()):
            try:
                resolve(target)
            except Exception as exc:
                problems.append(f"{spec.kind} {spec.name!r}: {target} does not resolve: {type(exc).__name__}: {exc}")
        if isinstance(spec, ScheduleSpec) and "python" in spec.frameworks:
            _check_schedule(spec, (schedule_kwargs or {}).get(spec.name, {}), problems)
    if problems:
        raise AssertionError(f"{module} does not conform:\n- " + "\n- ".join(problems))
    return specs
