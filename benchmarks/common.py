"""Shared pieces of the benchmarks: the table row, interleaved timing, fresh-process timing."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class Row:
    """One line of the table: ``value`` measured against ``anchor_value`` in the same run.

    Args:
        group: what is benchmarked ("AdamW step, BERT-base shapes").
        measured: what was timed ("hfopt AdamW (fused)").
        anchor: what it is compared with ("torch AdamW fused"), or ``"-"`` for absolute rows.
        value: the measurement (seconds unless ``unit`` says otherwise).
        anchor_value: the anchor's measurement, or ``None``.
        target: the target as text ("<= 1.10x", "<= 100 ms"), or ``""``.
        met: whether the target is met, or ``None`` when there is none.
        unit: ``"s"`` (shown in ms) or another unit shown as is. Defaults to ``"s"``.
        note: free text. Defaults to ``""``.
    """

    group: str
    measured: str
    anchor: str
    value: float
    anchor_value: float | None
    target: str = ""
    met: bool | None = None
    unit: str = "s"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.anchor_value:
            return None
        return self.value / self.anchor_value


def ratio_row(group, measured, anchor, value, anchor_value, max_ratio=None, note=""):
    """A :class:`Row` whose target is ``value / anchor_value <= max_ratio``."""
    ratio = value / anchor_value
    target = f"<= {max_ratio:.2f}x" if max_ratio is not None else ""
    met = None if max_ratio is None else ratio <= max_ratio
    return Row(group, measured, anchor, value, anchor_value, target, met, note=note)


def interleaved_medians(fns: dict, repeats: int, warmup: int = 2) -> dict:
    """Median seconds per call of each function, timed round-robin so drift hits all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def fresh_process_seconds(code: str, repeats: int = 7, env=None) -> float:
    """Median wall time of ``python -c code`` in a fresh interpreter (startup included)."""
    env = dict(os.environ if env is None else env)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def format_table(rows: list[Row]) -> str:
    """Markdown table of the rows."""
    def fmt(v, unit):
        if v is None:
            return "-"
        return f"{v * 1e3:.2f} ms" if unit == "s" else f"{v:,.0f} {unit}"

    lines = ["| benchmark | measured | anchor | value | anchor value | ratio | target | met |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        ratio = "-" if r.ratio is None else f"{r.ratio:.3f}x"
        met = {True: "yes", False: "NO", None: "-"}[r.met]
        lines.append(f"| {r.group} | {r.measured} | {r.anchor} | {fmt(r.value, r.unit)} | "
                     f"{fmt(r.anchor_value, r.unit)} | {ratio} | {r.target} | {met} |"
                     + (f" {r.note}" if r.note else ""))
    return "\n".join(lines)
