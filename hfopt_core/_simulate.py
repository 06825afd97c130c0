"""``hfopt simulate``: dry-run a schedule spec, the lr of every parameter group at every optimizer update.

It builds the scheduler exactly as training would (``get_scheduler(spec, optimizer, ...)`` on a
throwaway torch ``SGD`` with one parameter per group; without torch, the plain ``optimizer=None``
form times each group's lr) and reads the lr of every group at every update, and checks the run for
the classic mistakes (:func:`check`). Nothing is trained. A run longer than :data:`MAX_POINTS`
updates is read at that many evenly spaced updates (the first, the last, warmup ends and phase
starts included), so the work is bounded whatever its length: a ``LambdaLR`` (what every
closed-form schedule and spec builds) gives the lr at any update directly; another scheduler is
stepped, up to :data:`MAX_STEPPED` updates.
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

from ._arguments import count, positive_float
from ._plot import MAX_POINTS
from .api import get_scheduler
from .manager import get_manager
from .specs import normalize_spec, parse_spec

#: The longest run whose scheduler is stepped update by update when it is not a ``LambdaLR``.
MAX_STEPPED = 1_000_000

#: Absolute floors (compared with each group's lr) and floors relative to the peak (compared with 1).
ABSOLUTE_FLOORS = ("min_lr", "lr_end")
RELATIVE_FLOORS = ("min_lr_rate", "min_lr_ratio")


def count_updates(epochs, batches: int, grad_accum: int = 1) -> int:
    """Optimizer updates of ``epochs`` epochs of ``batches`` batches with gradient accumulation ``grad_accum``.

    ``ceil(epochs * ceil(batches / grad_accum))``: a last, shorter accumulation still makes an
    update, as transformers 4.57.6 (``Trainer.set_initial_training_values``, fractional epochs
    rounded up) and Lightning (``trainer.estimated_stepping_batches``, whole epochs) count them.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, (int, float)) or not math.isfinite(epochs) or epochs <= 0:
        raise ValueError(f"epochs must be a positive number, got {epochs!r}")
    for name, value in (("batches", batches), ("grad_accum", grad_accum)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return math.ceil(epochs * math.ceil(batches / grad_accum))


def parse_group_lrs(text: str) -> tuple[float, ...]:
    """``"1e-3,1e-4"`` -> ``(0.001, 0.0001)``; ``ValueError`` naming the piece that is not a positive number."""
    values = []
    for piece in text.split(","):
        try:
            value = float(piece)
        except ValueError:
            value = float("nan")
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"--group-lr must be comma-separated positive numbers, got {text!r} ({piece.strip()!r})")
        values.append(value)
    return tuple(values)


@dataclass
class Simulation:
    """A simulated run.

    Args:
        spec: the spec as given (name, mapping or list of phases).
        canonical: its checked form (:func:`hfopt_core.specs.normalize_spec`), percentages resolved.
        updates: number of optimizer updates.
        group_lrs: each parameter group's initial lr.
        steps: the updates read, increasing: all of them, or for a long run :data:`MAX_POINTS`
            evenly spaced ones plus the warmup ends and phase starts (update 0 always).
        lrs: ``lrs[i][group]``, the lr update ``steps[i]`` uses.
        warnings: what :func:`check` found, one sentence each.
    """

    spec: object
    canonical: object
    updates: int
    group_lrs: tuple[float, ...]
    steps: list[int]
    lrs: list[list[float]]
    warnings: list[str] = field(default_factory=list)

    def lr_at(self, update: int) -> list[float]:
        """The lr of every group at ``update`` (one of :attr:`steps`)."""
        return self.lrs[self.steps.index(update)]


def _lrs_torch(spec, group_lrs, updates, warmup, settings, steps):
    import torch

    params = [torch.zeros(1, requires_grad=True) for _ in group_lrs]
    # optimizer.defaults["lr"] is the first group's lr: what transformers' floors are relative to
    optimizer = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, group_lrs)], lr=group_lrs[0])
    scheduler = get_scheduler(spec, optimizer, warmup, updates, settings)
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError(f"schedule {spec!r} follows a metric (scheduler.step(metric)); it cannot be simulated "
                         "without one")
    if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):  # get_lr at any update, as LambdaLR computes it
        return [[float(base * fn(step)) for base, fn in zip(scheduler.base_lrs, scheduler.lr_lambdas)]
                for step in steps]
    if updates > MAX_STEPPED:
        raise ValueError(f"schedule {spec!r} builds a {type(scheduler).__name__}, which is stepped update by update: "
                         f"simulate at most {MAX_STEPPED} updates, got {updates}")
    wanted, lrs = set(steps), []
    with warnings.catch_warnings():  # nothing is trained: the optimizer never steps
        warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
        for step in range(steps[-1] + 1):
            if step in wanted:
                lrs.append([float(group["lr"]) for group in optimizer.param_groups])
            scheduler.step()
    return lrs


def _lrs_plain(spec, group_lrs, updates, warmup, settings, steps):
    fn = get_scheduler(spec, None, warmup, updates, settings)
    return [[lr * float(fn(step)) for lr in group_lrs] for step in steps]


def torch_available() -> bool:
    """Whether torch can be imported here (checked without importing it)."""
    return importlib.util.find_spec("torch") is not None


def _read_at(updates: int, marks) -> list[int]:
    """The updates a simulation reads: all of them, or :data:`MAX_POINTS` evenly spaced ones plus ``marks``."""
    if updates <= MAX_POINTS:
        return list(range(updates))
    return sample(updates, MAX_POINTS, marks)


def simulate(spec, updates: int, warmup=None, settings: Mapping | None = None,
             group_lrs=(1.0,)) -> Simulation:
    """Build ``spec``'s scheduler for a run of ``updates`` optimizer updates and read every group's lr.

    Args:
        spec: a schedule name, mapping or list of phases (text is read with :func:`parse_spec`).
        updates: number of optimizer updates (``num_training_steps``).
        warmup: ``num_warmup_steps`` (an int or a ``"10%"`` string). Defaults to ``None``.
        settings: ``scheduler_specific_kwargs``. Defaults to ``None``.
        group_lrs: the initial lr of each parameter group. Defaults to ``(1.0,)`` (multipliers).

    Warnings the schedule itself emits while being built become entries of ``.warnings``, after
    those of :func:`check`. Raises what ``get_scheduler`` raises for a bad spec or argument.
    """
    if isinstance(spec, str):
        spec = parse_spec(spec)
    if isinstance(updates, bool) or not isinstance(updates, int) or updates < 1:
        raise ValueError(f"the number of updates (--steps) must be a positive integer, got {updates!r}")
    group_lrs = tuple(group_lrs)
    if not group_lrs or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0
                            for v in group_lrs):
        raise ValueError(f"group_lrs must be positive numbers, got {group_lrs!r}")
    settings = dict(settings) if settings else None
    canonical = normalize_spec(spec, warmup, updates, settings)
    run = _lrs_torch if torch_available() else _lrs_plain
    steps = _read_at(updates, _marks(canonical))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lrs = run(spec, group_lrs, updates, warmup, settings, steps)
    simulation = Simulation(spec, canonical, updates, group_lrs, steps, lrs)
    simulation.warnings = check(simulation, warmup_given=warmup is not None) + [
        str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    return simulation


def _phases(canonical) -> list[dict]:
    return canonical if isinstance(canonical, list) else [canonical]


def _takes(name: str) -> tuple[str, ...]:
    from ._declaration import declaration
    from .api import _factory

    spec = get_manager().lookup("schedule", name)
    return declaration(spec, _factory(spec)).takes


def check(simulation: Simulation, warmup_given: bool = False) -> list[str]:
    """The classic mistakes in a simulated run, one sentence each (``[]`` when there are none).

    * an lr of 0 at the first update (that update moves nothing);
    * a warmup as long as the run (or its phase), so the lr never reaches its peak;
    * phases whose lengths end before the run does (the last one runs on past its own length);
    * a warmup (``--warmup``, or ``num_warmup_steps`` in the spec or a phase) given to a schedule
      that takes none (unused; unknown arguments are errors of ``get_scheduler`` itself, and
      ``scheduler_specific_kwargs`` a schedule ignores are its own warning);
    * a floor above the peak: ``min_lr``/``lr_end`` above the optimizer's lr (the first group's,
      ``optimizer.defaults["lr"]``, which transformers takes floors relative to) or, with
      ``per_group=True``, above a group's own lr; ``min_lr_rate``/``min_lr_ratio`` above 1.
    """
    found = []
    updates, canonical = simulation.updates, simulation.canonical
    zero = [str(g) for g, lr in enumerate(simulation.lrs[0]) if lr == 0]
    if zero:
        found.append(f"lr is 0 at the first update for group(s) {', '.join(zero)}: that update changes nothing "
                     f"(a warmup that starts at 0, as transformers' does, spends one update)")
    phases = _phases(canonical)
    start = 0
    for index, phase in enumerate(phases):
        length = phase.get("steps")
        length = updates - start if length is None else length
        warmup = phase.get("num_warmup_steps")
        where = f"phase {index} ({phase['name']})" if isinstance(canonical, list) else phase["name"]
        # a warmup filling a phase that hands over to the next one is the documented pattern (warmup, then cosine)
        hands_over = isinstance(canonical, list) and index < len(phases) - 1
        if (isinstance(warmup, int) and (warmup > length if hands_over else warmup >= length)
                and "num_warmup_steps" in _takes(phase["name"])):
            span = f"its {length} steps" if isinstance(canonical, list) else f"the run ({updates} updates)"
            found.append(f"{where}: num_warmup_steps={warmup} is not shorter than {span}: the lr never "
                         f"reaches its peak")
        start += length
    if isinstance(canonical, list):
        given = simulation.spec[-1] if isinstance(simulation.spec, list) else {}
        if isinstance(given, Mapping) and ("steps" in given or "fraction" in given) and start < updates:
            found.append(f"the phases cover {start} of {updates} updates: the last phase "
                         f"({phases[-1]['name']}) runs on past its own length for the last {updates - start}")
    for index, phase in enumerate(phases):
        if "num_warmup_steps" in phase and "num_warmup_steps" not in _takes(phase["name"]):
            if isinstance(canonical, list):
                found.append(f"phase {index} ({phase['name']}) takes no num_warmup_steps: "
                             f"num_warmup_steps={phase['num_warmup_steps']} is unused")
            else:
                given = "--warmup" if warmup_given else f"num_warmup_steps={phase['num_warmup_steps']}"
                found.append(f"{phase['name']} takes no num_warmup_steps: {given} is unused")
    for index, phase in enumerate(phases):
        where = f"phase {index} ({phase['name']})" if isinstance(canonical, list) else phase["name"]
        for key in ABSOLUTE_FLOORS:
            floor = phase.get(key)
            if not isinstance(floor, (int, float)) or isinstance(floor, bool):
                continue
            if phase.get("per_group"):  # each group's floor against its own lr
                above = [g for g, lr in enumerate(simulation.group_lrs) if floor > lr]
                if above:
                    found.append(f"{where}: {key}={floor:g} is above the lr of group(s) "
                                 f"{', '.join(f'{g} ({simulation.group_lrs[g]:g})' for g in above)}: their lr rises "
                                 f"instead of decaying")
            elif floor > simulation.group_lrs[0]:  # transformers: relative to optimizer.defaults["lr"]
                found.append(f"{where}: {key}={floor:g} is above the optimizer's lr ({simulation.group_lrs[0]:g}, "
                             f"which transformers takes the floor relative to): the lr rises instead of decaying")
        for key in RELATIVE_FLOORS:
            rate = phase.get(key)
            if isinstance(rate, (int, float)) and rate > 1:
                found.append(f"{where}: {key}={rate:g} puts the floor above the peak (a rate above 1): the lr "
                             f"rises instead of decaying")
    return found


def sample(updates: int, rows: int, marks=()) -> list[int]:
    """Updates shown in a table of about ``rows`` rows: all when they fit, else evenly spaced ones plus ``marks``."""
    if updates <= rows:
        return list(range(updates))
    picked = {round(i * (updates - 1) / (rows - 1)) for i in range(rows)}
    picked.update(m for m in marks if 0 <= m < updates)
    return sorted(picked)


def _marks(canonical) -> list[int]:
    """Updates worth showing: warmup ends and phase starts."""
    marks, start = [], 0
    for phase in _phases(canonical):
        warmup = phase.get("num_warmup_steps")
        if isinstance(warmup, int):
            marks += [start + warmup - 1, start + warmup]
        marks.append(start)
        start += phase.get("steps") or 0
    return marks


def format_table(simulation: Simulation, rows: int = 20) -> str:
    """The lr of every group at (a sample of) the updates, as aligned text columns."""
    header = ["update"] + [f"group {g} (lr {lr:g})" for g, lr in enumerate(simulation.group_lrs)]
    read = simulation.steps
    if len(read) <= rows:
        shown = list(range(len(read)))
    else:
        index = {step: i for i, step in enumerate(read)}
        shown = sorted({round(i * (len(read) - 1) / (rows - 1)) for i in range(rows)}
                       | {index[m] for m in _marks(simulation.canonical) if m in index})
    body = [[str(read[i])] + [f"{lr:.6g}" for lr in simulation.lrs[i]] for i in shown]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in [header, *body]]
    if len(shown) < simulation.updates:
        lines.append(f"({len(shown)} of {simulation.updates} updates shown)")
    return "\n".join(lines)


def run(args) -> int:
    """``hfopt simulate``: print the table and warnings, draw ``-o`` as a PNG. Returns the exit code (0)."""
    import sys

    from ._plot import parse_settings, write_png

    by_epochs = (args.epochs, args.batches) != (None, None)
    if args.steps is not None and by_epochs:
        raise ValueError("give the run length either as --steps or as --epochs and --batches, not both")
    if by_epochs:
        if args.epochs is None or args.batches is None:
            raise ValueError("--epochs and --batches go together (with --grad-accum, default 1)")
        updates = count_updates(args.epochs, args.batches, args.grad_accum)
        length = (f"{updates} updates = ceil({args.epochs:g} epochs x ceil({args.batches} batches / "
                  f"{args.grad_accum} accumulated))")
    else:
        if args.grad_accum != 1:
            raise ValueError("--grad-accum needs --epochs and --batches (--steps counts optimizer updates already)")
        updates = 1000 if args.steps is None else args.steps
        length = f"{updates} updates"
    if args.group_lr is not None and args.lr is not None:
        raise ValueError("give either --lr (one group) or --group-lr (one lr per group), not both")
    group_lrs = parse_group_lrs(args.group_lr) if args.group_lr is not None else (args.lr or 1.0,)
    warmup = args.warmup
    if isinstance(warmup, str) and warmup.strip().isdigit():
        try:
            warmup = count("--warmup")(warmup)
        except argparse.ArgumentTypeError as error:
            raise ValueError(str(error)) from None
    simulation = simulate(args.spec, updates, warmup=warmup, settings=parse_settings(args.set), group_lrs=group_lrs)
    print(f"{args.spec}: {length}" + (f", warmup {warmup}" if warmup is not None else ""))
    print(format_table(simulation, rows=args.rows))
    for message in simulation.warnings:
        print(f"warning: {message}", file=sys.stderr)
    if args.output:
        values = {f"group {g} (lr {lr:g})": [row[g] for row in simulation.lrs]
                  for g, lr in enumerate(simulation.group_lrs)}
        write_png(values, args.output, title=f"{args.spec}: {length}", lr=1.0, steps=simulation.steps)
        print(args.output)
    return 0


def add_parser(sub) -> None:
    """Add the ``simulate`` command to the ``hfopt`` subcommands ``sub``."""
    p = sub.add_parser("simulate", help="dry-run a schedule spec: the lr of every parameter group at every "
                                        "optimizer update (table, -o PNG) and warnings about classic mistakes")
    p.add_argument("spec", help="a schedule name, a JSON spec, or @file.json / @file.yaml")
    p.add_argument("--steps", type=count("--steps"), help="number of optimizer updates (default 1000)")
    p.add_argument("--epochs", type=positive_float("--epochs"), help="epochs (with --batches, instead of --steps)")
    p.add_argument("--batches", type=count("--batches", minimum=1), help="batches per epoch (with --epochs)")
    p.add_argument("--grad-accum", type=count("--grad-accum", minimum=1), default=1,
                   help="gradient accumulation: batches per optimizer update (default 1); updates = "
                        "ceil(epochs * ceil(batches / grad_accum)), as transformers and Lightning count them")
    p.add_argument("--warmup", help="num_warmup_steps: a number or a percentage such as 10%% (default: none)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a scheduler_specific_kwargs entry (Python literal or string), repeatable")
    p.add_argument("--lr", type=positive_float("--lr"), help="the optimizer's lr (default 1: multipliers)")
    p.add_argument("--group-lr", metavar="LR,LR,...", help="one parameter group per lr, e.g. 1e-3,1e-4")
    p.add_argument("--rows", type=count("--rows", minimum=1), default=20, help="table rows for long runs (default 20; all when fewer)")
    p.add_argument("-o", "--output", help="also draw the curves as a PNG (needs hfopt-core[plot])")
    p.set_defaults(run=run)
