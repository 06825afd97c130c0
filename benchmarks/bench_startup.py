"""Fresh-process cost of ``import torch; import hfopt_core; get_scheduler("cosine", opt, ...)``.

Target: at most +50 ms over torch alone. Building the first torch optimizer imports
``torch._dynamo`` lazily (about a second here), so the fair anchor does the same user-side work
(``import torch`` and the same optimizer) without hfopt; the hfopt part is also timed inside the
process. The same work through transformers' ``get_scheduler`` is the second anchor.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys

from benchmarks.common import Row

SETUP = "import torch\nopt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)\n"
TIMED = """import time
t0 = time.perf_counter()
{body}
print(time.perf_counter() - t0)
"""
PROGRAMS = {
    "torch alone": "import torch\nprint(0.0)\n",
    "torch + optimizer": SETUP + "print(0.0)\n",
    "hfopt": SETUP + TIMED.format(body="import hfopt_core\nhfopt_core.get_scheduler('cosine', opt, "
                                        "num_warmup_steps=10, num_training_steps=100)"),
    "transformers": SETUP + TIMED.format(body="from transformers import get_scheduler\nget_scheduler('cosine', opt, "
                                               "num_warmup_steps=10, num_training_steps=100)"),
}
REPEATS = 9


def _env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as for installed packages: bytecode is cached
    return env


def _run(code: str, env: dict) -> tuple[float, float]:
    """(wall seconds of the whole process, seconds the program timed itself)."""
    import time

    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    return time.perf_counter() - start, float(out.stdout.strip().splitlines()[-1])


def run() -> list[Row]:
    """Interleaved fresh-process medians."""
    env = _env()
    for code in PROGRAMS.values():  # warm the file and bytecode caches
        _run(code, env)
    wall = {name: [] for name in PROGRAMS}
    inner = {name: [] for name in PROGRAMS}
    for _ in range(REPEATS):
        for name, code in PROGRAMS.items():
            w, i = _run(code, env)
            wall[name].append(w)
            inner[name].append(i)
    med = {name: statistics.median(v) for name, v in wall.items()}
    hfopt_inner = statistics.median(inner["hfopt"])
    transformers_inner = statistics.median(inner["transformers"])
    group = "import hfopt_core + get_scheduler('cosine', opt)"
    return [
        Row(group, "hfopt part, timed in process", "-", hfopt_inner, None, "<= 50 ms", hfopt_inner <= 0.050,
            note=f"transformers' import + get_scheduler: {transformers_inner * 1e3:.0f} ms"),
        Row(group, "fresh process, torch + opt + hfopt", "fresh process, torch + opt", med["hfopt"],
            med["torch + optimizer"], "<= +50 ms", med["hfopt"] - med["torch + optimizer"] <= 0.050,
            note=f"+{(med['hfopt'] - med['torch + optimizer']) * 1e3:.0f} ms; import torch alone: "
                 f"{med['torch alone'] * 1e3:.0f} ms"),
        Row(group, "fresh process, torch + opt + hfopt", "fresh process, torch + opt + transformers",
            med["hfopt"], med["transformers"], "", None),
    ]
