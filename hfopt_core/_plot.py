"""What ``hfopt plot`` computes: learning-rate curves of installed schedules and of specs.

Curves use each schedule's plain ``optimizer=None`` form (:func:`hfopt_core.compose.step_function`),
so no framework is imported. A curve has at most :data:`MAX_POINTS` points: a longer run is
sampled at evenly spaced steps (the first and the last included), so the work is bounded whatever
``--steps`` is. matplotlib is imported only to draw a PNG; it is the optional extra
``hfopt-core[plot]``.
"""
from __future__ import annotations

import ast
import csv
import io
import math

from .errors import FrameworkError, _shortened
from .manager import get_manager

PLOT_EXTRA_HINT = "pip install 'hfopt-core[plot]'"

#: The most points a curve is computed at; longer runs are sampled evenly.
MAX_POINTS = 2001
#: The largest step count (and integer setting) accepted: 2**53, beyond which float steps are not exact.
MAX_STEPS = 2**53
#: The longest ``--set`` value read (numbers beyond float range are refused anyway).
MAX_SETTING_CHARACTERS = 400


def _check_setting(key: str, value):
    """A literal setting, refused when it is a number no schedule can use (too large to be a float)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_STEPS:
        raise ValueError(f"--set {key}: {str(value)[:20]}... is too large (at most {MAX_STEPS})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"--set {key}: must be a finite number, got {value!r}")
    return value


def parse_settings(pairs) -> dict:
    """``["key=value", ...]`` -> ``{key: value}``; values are Python literals, else strings.

    Raises ``ValueError`` naming the pair when it has no ``=`` or its key is not an identifier, and
    naming the key when a number is too large or not finite (``--set power=1e999``).
    """
    settings = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            shown = _shortened(repr(pair), 60, len(pair))
            raise ValueError(f"--set expects key=value with an identifier key, got {shown}")
        if len(text) > MAX_SETTING_CHARACTERS:
            raise ValueError(f"--set {key}: a value of {len(text)} characters is too long "
                             f"(at most {MAX_SETTING_CHARACTERS})")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = text.strip()
        settings[key] = _check_setting(key, value)
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
    """Keyword names the schedule accepts as ``scheduler_specific_kwargs`` (its declaration); ``None`` for any."""
    from ._build import factory_of
    from ._declaration import declaration

    accepted = declaration(spec, factory_of(spec)).accepted
    return None if accepted is None else set(accepted)


def sample_steps(steps: int, max_points: int = MAX_POINTS) -> list[int]:
    """The steps a curve of ``steps`` steps is drawn at: ``0..steps``, or ``max_points`` evenly spaced ones."""
    if steps + 1 <= max_points:
        return list(range(steps + 1))
    return sorted({round(i * steps / (max_points - 1)) for i in range(max_points)})


def _label(spec) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, dict):
        return str(spec.get("name", "spec"))
    return " + ".join(str(p.get("name", "?")) if isinstance(p, dict) else "?" for p in spec)


def curves(names, warmup: int = 100, steps: int = 1000, settings: dict | None = None,
           lr: float | None = None) -> dict[str, list[float]]:
    """The learning-rate curve of each schedule or spec, at steps ``0..steps`` (sampled when long).

    Args:
        names: schedule names or aliases, or specs (mappings, lists of phases: see
            :mod:`hfopt_core.specs`), plotted in this order.
        warmup: ``num_warmup_steps`` for names (and mappings that do not give it). Defaults to ``100``.
        steps: ``num_training_steps`` and the last step drawn, at most :data:`MAX_STEPS`. Defaults to ``1000``.
        settings: ``scheduler_specific_kwargs`` for the named schedules; each key goes to the
            schedules whose factory accepts it, and a key that none accepts is a ``ValueError``.
            Defaults to ``None``.
        lr: the optimizer's learning rate: values are ``lr * multiplier`` and schedules that need an
            initial lr with ``optimizer=None`` (``polynomial``, ``min_lr=``) get it as ``lr_init``
            (``1.0`` when ``lr`` is ``None``). Defaults to ``None`` (plain multipliers).

    Returns ``{label: [value at each of sample_steps(steps)]}`` (the label of a spec is its
    schedule names joined by ``+``). Every name is checked before any curve is computed.
    """
    from .compose import step_function

    if isinstance(names, (str, dict)):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError("names must name at least one schedule, got []")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if steps > MAX_STEPS:
        raise ValueError(f"steps must be at most {MAX_STEPS}, got {str(steps)[:30]}{'...' if len(str(steps)) > 30 else ''}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
    if warmup > MAX_STEPS:
        raise ValueError(f"warmup must be at most {MAX_STEPS}, got {str(warmup)[:30]}...")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))
                           or not math.isfinite(lr) or lr <= 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    settings = dict(settings or {})
    named = [n for n in names if isinstance(n, str)]
    specs = {name: plottable_spec(name) for name in named}
    accepted = {name: _accepted(spec) for name, spec in specs.items()}
    unused = [k for k in settings if not any(a is None or k in a for a in accepted.values())]
    if unused:
        where = f"the schedules {named}" if named else "any schedule (settings go to names, not to specs)"
        raise ValueError(f"settings {unused} are accepted by none of {where}")
    functions = {}
    initial = 1.0 if lr is None else float(lr)
    for name in names:
        label = _label(name)
        if isinstance(name, str):
            keys = accepted[name]
            kwargs = {k: v for k, v in settings.items() if keys is None or k in keys}
            try:
                fn = step_function(name, warmup, steps, kwargs, initial_lr=initial)
            except (ValueError, TypeError) as exc:
                hint = "" if keys is None else f" (it accepts: {', '.join(sorted(keys)) or 'nothing'})"
                error = TypeError if isinstance(exc, TypeError) else ValueError
                raise error(f"schedule {name!r}: {exc}; pass its arguments with --set key=value{hint}") from exc
        else:
            given = name if isinstance(name, list) or "num_warmup_steps" in name else {**name, "num_warmup_steps": warmup}
            try:
                fn = step_function(given, None, steps, initial_lr=initial)
            except (ValueError, TypeError) as exc:
                error = TypeError if isinstance(exc, TypeError) else ValueError
                raise error(f"spec {label!r}: {exc}") from exc
        functions[label] = fn
    scale = 1.0 if lr is None else float(lr)
    points = sample_steps(steps)
    return {label: [scale * float(fn(t)) for t in points] for label, fn in functions.items()}


def to_csv(values: dict[str, list[float]], steps=None) -> str:
    """CSV text: a ``step`` column (``steps``, default ``0, 1, ...``), then one column per schedule."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["step", *values])
    columns = list(values.values())
    steps = range(len(columns[0])) if steps is None else steps
    for row, step in enumerate(steps):
        writer.writerow([step, *(repr(column[row]) for column in columns)])
    return buffer.getvalue()


def import_figure():
    """matplotlib's ``Figure`` class; ``ImportError`` saying what to install when it is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"drawing a PNG needs matplotlib, which is not installed: {PLOT_EXTRA_HINT} "
                          f"(or write the values with --csv)", name="matplotlib") from exc
    return Figure


def write_png(values: dict[str, list[float]], path, title: str | None = None, lr: float | None = None,
              steps=None) -> None:
    """Draw every curve of ``values`` on one chart and save it as a PNG at ``path`` (no pyplot).

    ``path`` may be a binary file object (``sys.stdout.buffer``); ``steps`` are the x values
    (default ``0, 1, ...``).
    """
    Figure = import_figure()
    figure = Figure(figsize=(7, 4), dpi=100, layout="tight")
    axes = figure.add_subplot()
    for name, column in values.items():
        axes.plot(range(len(column)) if steps is None else steps, column, label=name, linewidth=1.6)
    axes.set_xlabel("step")
    axes.set_ylabel("learning rate" if lr is not None else "learning-rate multiplier")
    axes.grid(True, alpha=0.3)
    if title:
        axes.set_title(title, fontsize="medium")
    axes.legend(fontsize="small", ncol=2 if len(values) > 6 else 1)
    figure.savefig(path, format="png")
