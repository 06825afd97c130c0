"""Run every ``benchmarks/bench_*.py`` module (or those named) and print one ratio table.

Usage: ``python -m benchmarks [name ...]`` where ``name`` is a module suffix (``startup``).
Each module exposes ``run() -> list[Row]``.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import benchmarks
from benchmarks.common import format_table


def main(argv: list[str]) -> int:
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules(benchmarks.__path__)
                   if m.name.startswith("bench_"))
    selected = argv or names
    unknown = [n for n in selected if n not in names]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {names}", file=sys.stderr)
        return 2
    rows = []
    for name in selected:
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.bench_{name}")
        rows.extend(module.run())
        print(f"[{name}: {time.perf_counter() - start:.1f} s]", file=sys.stderr, flush=True)
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
