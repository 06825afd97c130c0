"""What ``hfopt show`` and ``hfopt plot`` compute: a component's description, schedule curves.

Curves use each schedule's plain ``optimizer=None`` form (``get_scheduler(name, None, ...)``), so
no framework is imported. matplotlib is imported only to draw a PNG; it is the optional extra
``hfopt-core[plot]``.
"""
from __future__ import annotations

import ast
import csv
import difflib
import inspect
import io
import math

from .api import get_scheduler
from .errors import FrameworkError, UnknownNameError
from .manager import get_manager, resolve

KINDS = ("schedule", "optimizer", "accumulator")

PLOT_EXTRA_HINT = "pip install 'hfopt-core[plot]'"


def find_specs(name: str, kind: str | None = None) -> list:
    """Every installed spec registered under ``name`` (or an alias), of ``kind`` or of any kind.

    Args:
        name: a registry name or alias (``"cosine"``, ``"wsd"``, ``"adamw"``).
        kind: ``"schedule"``, ``"optimizer"``, ``"accumulator"`` or ``None`` for all. Defaults to ``None``.

    Raises :class:`~hfopt_core.errors.UnknownNameError` (a ``ValueError``) when nothing provides
    the name, suggesting the nearest installed one of any kind.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}: {name!r}")
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
    manager = get_manager()
    kinds = KINDS if kind is None else (kind,)
    found = [spec for k in kinds for spec in manager.specs(k) if name in spec.names]
    if found:
        return found
    installed = sorted({n for k in kinds for n in manager.names(k)})
    lowered = {n.lower(): n for n in installed}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    raise UnknownNameError(kind or "component", name, installed, lowered[close[0]] if close else None)


def _default(value):
    if value is inspect.Parameter.empty:
        return None
    return repr(value)


def specific_kwargs(spec, signature: inspect.Signature | None) -> list[str] | str:
    """The ``scheduler_specific_kwargs`` a schedule accepts: a list of names, or ``"**kwargs"``.

    Every keyword parameter of the factory after the optimizer, except the step counts ``get_scheduler``
    passes itself (``spec.takes``) and ``last_epoch``; ``[]`` when the spec ignores them; ``"**kwargs"``
    when the factory takes ``**kwargs`` (which it checks itself); ``"unknown"`` without a signature.
    """
    if not spec.accepts_kwargs:
        return []
    if signature is None:
        return "unknown"
    params = list(signature.parameters.values())
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return "**kwargs"
    filled = {*spec.takes, "last_epoch"}  # get_scheduler passes the step counts; last_epoch is for resuming
    return [p.name for p in params[1:] if p.name not in filled
            and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def describe(spec) -> dict:
    """A JSON-ready description of ``spec``: provider, frameworks, signature, kwargs, docstrings.

    The factory is imported to read its signature and docstring; when that fails (a framework
    that is not installed, a broken module), ``signature`` is ``None`` and ``import_error`` says why.
    """
    distribution, _, version = (spec.source or "").partition("==")
    info = {
        "kind": spec.kind, "name": spec.name, "aliases": list(spec.aliases), "summary": spec.summary,
        "distribution": distribution or None, "version": version or None,
        "frameworks": list(spec.frameworks), "factory": spec.factory, "exports": sorted(spec.exports),
        "signature": None, "parameters": [], "docstring": "", "module_docstring": "", "import_error": None,
    }
    signature = None
    try:
        factory = resolve(spec.factory)
    except Exception as exc:  # noqa: BLE001 - show what is wrong instead of a traceback
        info["import_error"] = f"{type(exc).__name__}: {exc}"
    else:
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # a callable without an introspectable signature
            pass
    if info["import_error"] is None:
        info["docstring"] = inspect.getdoc(factory) or ""
        module = inspect.getmodule(factory)
        info["module_docstring"] = inspect.getdoc(module) or "" if module is not None else ""
    if signature is not None:
        name = spec.factory.partition(":")[2]
        info["signature"] = f"{name}{signature}"
        info["parameters"] = [{"name": p.name, "kind": p.kind.name.lower(), "default": _default(p.default),
                               "required": p.default is inspect.Parameter.empty
                               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
                              for p in signature.parameters.values()]
    if spec.kind == "schedule":
        info["takes"], info["requires"] = list(spec.takes), list(spec.requires)
        info["accepts_kwargs"] = spec.accepts_kwargs
        info["scheduler_specific_kwargs"] = specific_kwargs(spec, signature)
    return info


def format_description(info: dict) -> str:
    """The text ``hfopt show`` prints for one :func:`describe` result."""
    provider = f"{info['distribution']} {info['version']}" if info["version"] else (info["distribution"] or "in-process")
    lines = [f"{info['kind']} {info['name']}" + (f" - {info['summary']}" if info["summary"] else ""),
             f"  provided by   {provider}",
             f"  frameworks    {', '.join(info['frameworks'])}",
             f"  aliases       {', '.join(info['aliases']) or '-'}",
             f"  factory       {info['factory']}"]
    if info["exports"]:
        lines.append(f"  exports       {', '.join(info['exports'])}")
    lines.append(f"  signature     {info['signature'] or 'unavailable (' + str(info['import_error']) + ')'}")
    if info["kind"] == "schedule":
        specific = info["scheduler_specific_kwargs"]
        if not info["accepts_kwargs"]:
            specific_text = "none (ignored with a warning)"
        elif isinstance(specific, list):
            specific_text = ", ".join(specific) or "none"
        else:
            specific_text = {"**kwargs": "**kwargs, passed on to the factory (its docstring names them)"
                             }.get(specific, specific)
        lines += [f"  get_scheduler passes {', '.join(info['takes']) or 'no step counts'}"
                  f"; requires {', '.join(info['requires']) or 'none'}",
                  f"  scheduler_specific_kwargs  {specific_text}"]
    for title, key in (("docstring", "docstring"), ("module docstring", "module_docstring")):
        if info[key]:
            lines += ["", f"  {title}:"] + [f"    {line}".rstrip() for line in info[key].splitlines()]
    return "\n".join(lines)


# -- plot -----------------------------------------------------------------------------------------
def parse_settings(pairs) -> dict:
    """``["key=value", ...]`` -> ``{key: value}``; values are Python literals, else strings.

    Raises ``ValueError`` naming the pair when it has no ``=`` or its key is not an identifier.
    """
    settings = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(f"--set expects key=value with an identifier key, got {pair!r}")
        try:
            settings[key] = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            settings[key] = text.strip()
    return settings


def plottable_spec(name: str):
    """The schedule spec drawn for ``name``; ``ValueError`` saying why when it has no step form."""
    manager = get_manager()
    try:
        return manager.lookup("schedule", name, "python")
    except FrameworkError:
        spec = manager.lookup("schedule", name)
        if set(spec.frameworks) == {"torch"}:
            why = ("its learning rate is not a function of the step alone (it follows a metric passed to "
                   "scheduler.step(metric), or the optimizer's own state)")
        else:
            why = (f"it only builds {'/'.join(spec.frameworks)} schedule objects (such as a Keras "
                   f"LearningRateSchedule); evaluate one at each step in that framework instead")
        raise ValueError(
            f"cannot plot schedule {name!r} ({spec.source}): it supports {', '.join(spec.frameworks)} only and has "
            f"no plain optimizer=None form: {why}") from None


def _accepted(spec) -> set[str] | None:
    """Keyword names the schedule's factory accepts beyond the common ones; ``None`` for any."""
    try:
        signature = inspect.signature(resolve(spec.factory))
    except (TypeError, ValueError):
        return None
    specific = specific_kwargs(spec, signature)
    return None if specific == "**kwargs" else set(specific)


def curves(names, warmup: int = 100, steps: int = 1000, settings: dict | None = None,
           lr: float | None = None) -> dict[str, list[float]]:
    """The learning-rate curve of each schedule, at steps ``0..steps``.

    Args:
        names: schedule names or aliases (plotted in this order).
        warmup: ``num_warmup_steps``. Defaults to ``100``.
        steps: ``num_training_steps`` and the last step drawn. Defaults to ``1000``.
        settings: ``scheduler_specific_kwargs``; each key goes to the schedules whose factory accepts
            it, and a key that none accepts is a ``ValueError``. Defaults to ``None``.
        lr: the optimizer's learning rate: values are ``lr * multiplier`` and schedules that need an
            initial lr with ``optimizer=None`` (``polynomial``, ``min_lr=``) get it as ``lr_init``
            (``1.0`` when ``lr`` is ``None``). Defaults to ``None`` (plain multipliers).

    Returns ``{name: [value at step 0, ..., value at step steps]}``. Every name is checked before
    any curve is computed.
    """
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError("names must name at least one schedule, got []")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))
                           or not math.isfinite(lr) or lr <= 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    settings = dict(settings or {})
    specs = [plottable_spec(name) for name in names]
    accepted = [_accepted(spec) for spec in specs]
    unused = [k for k in settings if not any(a is None or k in a for a in accepted)]
    if unused:
        raise ValueError(f"settings {unused} are accepted by none of the schedules {names}")
    out = {}
    for name, spec, keys in zip(names, specs, accepted):
        kwargs = {k: v for k, v in settings.items() if keys is None or k in keys}
        try:
            fn = get_scheduler(name, None, num_warmup_steps=warmup, num_training_steps=steps,
                               scheduler_specific_kwargs=kwargs)
        except (ValueError, TypeError) as exc:
            if keys is not None and "lr_init" in keys and "lr_init" not in kwargs and "lr_init" in str(exc):
                fn = get_scheduler(name, None, num_warmup_steps=warmup, num_training_steps=steps,
                                   scheduler_specific_kwargs={**kwargs, "lr_init": 1.0 if lr is None else lr})
            else:
                hint = "" if keys is None else f" (it accepts: {', '.join(sorted(keys)) or 'nothing'})"
                error = TypeError if isinstance(exc, TypeError) else ValueError
                raise error(f"schedule {name!r}: {exc}; pass its arguments with --set key=value{hint}") from exc
        scale = 1.0 if lr is None else float(lr)
        out[name] = [scale * float(fn(t)) for t in range(steps + 1)]
    return out


def to_csv(values: dict[str, list[float]]) -> str:
    """CSV text: a ``step`` column, then one column per schedule."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["step", *values])
    columns = list(values.values())
    for step in range(len(columns[0])):
        writer.writerow([step, *(repr(column[step]) for column in columns)])
    return buffer.getvalue()


def import_figure():
    """matplotlib's ``Figure`` class; ``ImportError`` saying what to install when it is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"drawing a PNG needs matplotlib, which is not installed: {PLOT_EXTRA_HINT} "
                          f"(or write the values with --csv)", name="matplotlib") from exc
    return Figure


def write_png(values: dict[str, list[float]], path, title: str | None = None, lr: float | None = None) -> None:
    """Draw every curve of ``values`` on one chart and save it as a PNG at ``path`` (no pyplot)."""
    Figure = import_figure()
    figure = Figure(figsize=(7, 4), dpi=100, layout="tight")
    axes = figure.add_subplot()
    for name, column in values.items():
        axes.plot(range(len(column)), column, label=name, linewidth=1.6)
    axes.set_xlabel("step")
    axes.set_ylabel("learning rate" if lr is not None else "learning-rate multiplier")
    axes.grid(True, alpha=0.3)
    if title:
        axes.set_title(title, fontsize="medium")
    axes.legend(fontsize="small", ncol=2 if len(values) > 6 else 1)
    figure.savefig(path, format="png")
