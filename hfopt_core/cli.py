"""The ``hfopt`` command.

``hfopt list`` shows every plugin, its status and what it provides (names provided more than once
are marked); ``hfopt doctor`` reports what needs fixing and how; ``hfopt show NAME`` describes a
component; ``hfopt plot NAME ...`` draws schedule curves (PNG, or ``--csv``); ``hfopt simulate SPEC``
dry-runs a schedule spec (every group's lr at every update, and the classic mistakes).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from ._arguments import count, positive_float
from .errors import HfoptError
from .manager import get_manager


def _conflict_marks(conflicts) -> dict[tuple[str, str], str]:
    """``{(source, "kind:name"): mark}`` for every provider of a contested name."""
    marks = {}
    for c in conflicts:
        for source in c.sources:
            others = ", ".join(s for s in c.sources if s != source)
            if c.preferred is None:
                mark = f" [conflict: also {others}]"
            elif c.preferred == source:
                mark = f" [preferred over {others}]"
            else:
                mark = f" [conflict: {c.preferred} is preferred]"
            marks[(source, f"{c.kind}:{c.name}")] = mark
    return marks


def _list(args) -> int:
    manager = get_manager()
    plugins = manager.plugins()
    conflicts = manager.conflicts()
    strict = args.strict or manager.strict
    failed = strict and any(p.status == "broken" for p in plugins)
    if args.json:
        print(json.dumps({"plugins": [dataclasses.asdict(p) for p in plugins],
                          "conflicts": [dataclasses.asdict(c) for c in conflicts]}, indent=2))
        return 1 if failed else 0
    if not plugins:
        print("no hfopt plugins installed")
        return 0
    marks = _conflict_marks(conflicts)

    def detail(p):
        if p.status != "ok":
            return p.reason
        return ", ".join(item + marks.get((p.label, item.split(" ")[0]), "") for item in p.provides)

    rows = [(p.name, p.version or "-", p.status, detail(p)) for p in plugins]
    widths = [max(len(r[i]) for r in rows + [("plugin", "version", "status", "")]) for i in range(3)]
    print(f"{'plugin':<{widths[0]}}  {'version':<{widths[1]}}  {'status':<{widths[2]}}  provides / reason")
    for name, version, status, text in rows:
        print(f"{name:<{widths[0]}}  {version:<{widths[1]}}  {status:<{widths[2]}}  {text}")
    unresolved = [c for c in conflicts if c.preferred is None]
    if unresolved:
        print(f"\n{len(unresolved)} name(s) provided more than once; `hfopt doctor` says how to pick one.")
    return 1 if failed else 0


def _doctor(args) -> int:
    problems = get_manager().diagnose()
    failing = [p for p in problems if p.needs_fixing]
    if args.json:
        print(json.dumps([dataclasses.asdict(p) for p in problems], indent=2))
        return 1 if failing else 0
    if not problems:
        print("hfopt doctor: no problems found")
        return 0
    for p in problems:
        print(f"{p.category.upper():<12} {p.message}\n{'':<12} fix: {p.fix}")
    print(f"\n{len(failing)} problem(s) to fix, {len(problems) - len(failing)} note(s)")
    return 1 if failing else 0


def _show(args) -> int:
    from ._show import describe, describe_spec, find_specs, format_description, format_spec_description
    from .specs import parse_spec

    spec = parse_spec(args.name)
    if not isinstance(spec, str):
        info = describe_spec(spec)
        print(json.dumps(info, indent=2) if args.json else format_spec_description(info))
        return 0
    infos = [describe(found) for found in find_specs(spec, args.kind)]
    if args.json:
        print(json.dumps(infos, indent=2))
    else:
        print("\n\n".join(format_description(info) for info in infos))
    return 0


def _plot(args) -> int:
    from ._plot import curves, parse_settings, sample_steps, to_csv, write_png
    from .specs import parse_spec

    names = [parse_spec(name) for name in args.names]
    values = curves(names, warmup=args.warmup, steps=args.steps, settings=parse_settings(args.set), lr=args.lr)
    steps = sample_steps(args.steps)
    to_stdout = args.output == "-" or (args.csv and args.output is None)
    if args.csv:
        text = to_csv(values, steps)
        if to_stdout:
            sys.stdout.write(text)
            return 0
        with open(args.output, "w", newline="") as f:
            f.write(text)
    else:
        labels = ", ".join(values) if len(values) <= 4 else f"{len(values)} schedules"
        title = f"{labels}: warmup {args.warmup}, {args.steps} steps" + (f", lr {args.lr:g}" if args.lr else "")
        if to_stdout:
            sys.stdout.flush()
            write_png(values, sys.stdout.buffer, title=title, lr=args.lr, steps=steps)
            sys.stdout.buffer.flush()
            return 0
        write_png(values, args.output or "curve.png", title=title, lr=args.lr, steps=steps)
    print(args.output or "curve.png")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``hfopt`` console script. Returns the exit code."""
    parser = argparse.ArgumentParser(prog="hfopt", description="hfopt plugin registry")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list installed plugins, their status and what they provide")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p_list.add_argument("--strict", action="store_true",
                        help="exit 1 when any plugin is broken (also when HFOPT_STRICT_PLUGINS is set)")
    p_list.set_defaults(run=_list)
    p_doctor = sub.add_parser("doctor", help="report broken and disabled plugins, conflicts and bad HFOPT_* "
                                             "variables, each with its fix; exit 1 when anything needs fixing")
    p_doctor.add_argument("--json", action="store_true", help="print JSON instead of text")
    p_doctor.set_defaults(run=_doctor)
    p_show = sub.add_parser("show", help="describe a schedule, optimizer or accumulator: provider, frameworks, "
                                         "signature, scheduler_specific_kwargs, docstring")
    p_show.add_argument("name", help="registry name or alias (see `hfopt list`), or a spec: JSON, @file.json, "
                                     "@file.yaml (see docs/schedules-as-data.md)")
    p_show.add_argument("--kind", choices=("schedule", "optimizer", "accumulator"),
                        help="only this kind (a name may be both, e.g. adafactor)")
    p_show.add_argument("--json", action="store_true", help="print a JSON list (one object per match)")
    p_show.set_defaults(run=_show)
    p_plot = sub.add_parser("plot", help="draw the learning-rate curves of installed schedules (PNG; needs "
                                         "hfopt-core[plot]) or write them as CSV")
    p_plot.add_argument("names", nargs="+", metavar="NAME",
                        help="schedule names or aliases, or specs (JSON, @file.json, @file.yaml), on one chart")
    p_plot.add_argument("--warmup", type=count("--warmup"), default=100, help="num_warmup_steps (default 100)")
    p_plot.add_argument("--steps", type=count("--steps"), default=1000,
                        help="num_training_steps, last step drawn (default 1000); runs longer than 2000 steps "
                             "are drawn at 2001 evenly spaced steps")
    p_plot.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a scheduler_specific_kwargs entry (Python literal or string), repeatable; "
                             "goes to every named schedule that accepts KEY")
    p_plot.add_argument("--lr", type=positive_float("--lr"), help="peak learning rate: draw lr * multiplier (default: multipliers)")
    p_plot.add_argument("-o", "--output", help="output file, - for standard output (default curve.png; with --csv, "
                                               "standard output)")
    p_plot.add_argument("--csv", action="store_true", help="write the values as CSV instead of a PNG")
    p_plot.set_defaults(run=_plot)
    from ._simulate import add_parser as add_simulate

    add_simulate(sub)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # `hfopt list | head`: the reader left, which is fine
        sys.stdout = open(os.devnull, "w")
        return 0
    except (ValueError, TypeError, ImportError, OSError, HfoptError) as exc:
        if args.command not in ("show", "plot", "simulate"):
            raise
        print(f"hfopt {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
