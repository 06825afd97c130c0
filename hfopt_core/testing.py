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


def run_readme_examples(path) -> int:
    """Run every fenced ```` ```python ```` block of a README, each in a fresh namespace; returns their count.

    Args:
        path: the README file (``str`` or ``pathlib.Path``), read as UTF-8.

    Raises ``AssertionError`` when the file shows no python block; an example's own exception
    propagates, its traceback naming the README.
    """
    import re
    from pathlib import Path

    path = Path(path)
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    assert blocks, f"{path.name} shows a python example"
    for block in blocks:
        exec(compile(block, str(path), "exec"), {})
    return len(blocks)


def _approx_equal(got: float, want: float, rel: float, abs_: float) -> bool:
    """pytest.approx's rule: ``|got - want| <= max(rel * |want|, abs_)`` (equal infinities match)."""
    return got == want or abs(got - want) <= max(rel * abs(want), abs_)


def check_schedule_closed_form(name: str, closed_form, cases=({},), *, factory=None,
                               num_warmup_steps: int | None = 4, num_training_steps: int | None = 20,
                               steps=(0, 1, 2, 3, 4, 5, 9, 12, 19, 20, 30), torch_case=None,
                               torch_steps: int = 22, lr: float = 0.5,
                               rel: float = 1e-12, abs: float = 1e-15) -> None:
    """Assert that schedule ``name`` follows ``closed_form(step, **step_counts, **kwargs)``.

    Args:
        name: the registered schedule name given to ``get_scheduler``.
        closed_form: ``closed_form(step, **step_counts, **kwargs) -> multiplier``, written by the
            test from the schedule's formula (never from its code).
        cases: the ``scheduler_specific_kwargs`` dicts to check. Defaults to ``({},)``.
        factory: the schedule's factory, called directly as ``factory(None, **step_counts,
            **kwargs)`` and required to give the same values; ``None`` (default) skips that.
        num_warmup_steps: passed to ``get_scheduler``, the factory and the closed form; ``None``
            passes nothing (for schedules without warmup). Defaults to 4.
        num_training_steps: likewise; defaults to 20.
        steps: the steps at which the plain step function is compared. Defaults to a spread over 0..30.
        torch_case: ``kwargs`` or ``(scheduler_kwargs, closed_form_kwargs)`` for the torch check
            (when the schedule takes arguments the closed form spells otherwise, e.g. ``min_lr`` for
            ``min_lr_rate``); defaults to ``None``, meaning ``cases[0]``.
        torch_steps: optimizer steps of the torch check. Defaults to 22.
        lr: the torch optimizer's learning rate. Defaults to 0.5.
        rel, abs: tolerances of every comparison with the closed form. Default ``1e-12``, ``1e-15``.

    Checks, for each case: ``get_scheduler(name, None, ...)`` is the closed form at ``steps``, the
    factory called directly gives equal values, and the step function survives a pickle round
    trip. When torch is importable: ``get_scheduler(name, optimizer, ...)`` sets the optimizer's lr to
    ``lr * closed_form(step)`` for ``torch_steps`` steps, and a scheduler rebuilt from its
    ``state_dict()`` resumes at the same epoch and lr. Raises ``AssertionError`` naming the case and step.
    """
    import importlib.util

    from . import get_scheduler

    common = {k: v for k, v in (("num_warmup_steps", num_warmup_steps),
                                ("num_training_steps", num_training_steps)) if v is not None}
    for kwargs in cases:
        fn = get_scheduler(name, None, **common, scheduler_specific_kwargs=kwargs)
        direct = None if factory is None else factory(None, **common, **kwargs)
        for step in steps:
            want, got = closed_form(step, **common, **kwargs), fn(step)
            assert _approx_equal(got, want, rel, abs), \
                f"schedule {name!r} {kwargs}: step {step} gives {got!r}, the closed form {want!r}"
            if direct is not None:
                assert direct(step) == got, \
                    f"schedule {name!r} {kwargs}: the factory called directly gives {direct(step)!r} at step {step}, get_scheduler {got!r}"
        restored = pickle.loads(pickle.dumps(fn))
        assert [restored(step) for step in steps] == [fn(step) for step in steps], \
            f"schedule {name!r} {kwargs}: the unpickled step function gives other values"
    if importlib.util.find_spec("torch") is None:
        return
    import torch

    if torch_case is None:
        torch_case = cases[0]
    kwargs, expect = torch_case if isinstance(torch_case, tuple) else (torch_case, torch_case)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = get_scheduler(name, optimizer, **common, scheduler_specific_kwargs=kwargs)
    for step in range(torch_steps):
        want, got = lr * closed_form(step, **common, **expect), optimizer.param_groups[0]["lr"]
        assert _approx_equal(got, want, rel, abs), \
            f"schedule {name!r} {kwargs} on torch: step {step} sets lr {got!r}, the closed form {want!r}"
        optimizer.step()
        scheduler.step()
    rebuilt = get_scheduler(name, optimizer, **common, scheduler_specific_kwargs=kwargs)
    rebuilt.load_state_dict(scheduler.state_dict())
    assert rebuilt.last_epoch == torch_steps and rebuilt.get_last_lr() == scheduler.get_last_lr(), \
        f"schedule {name!r} on torch: the rebuilt scheduler resumes at epoch {rebuilt.last_epoch} " \
        f"lr {rebuilt.get_last_lr()}, not {torch_steps} {scheduler.get_last_lr()}"
