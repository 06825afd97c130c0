"""`make demo` (examples/demo.py), shortened: the table, the runs picked by name, the PNG."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_prints_the_table_and_writes_the_png(tmp_path):
    from hfopt_core import get_manager

    png = tmp_path / "demo.png"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HFOPT_", "PYTEST_"))}
    env.update(MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), "--steps", "40", "--warmup", "4",
                             "--output", str(png)], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    header = next(line for line in out.splitlines() if line.startswith("framework"))
    assert header.split() == ["framework", "optimizer", "schedule", "final", "loss", "eval", "acc", "ms/step",
                              "(median)"]
    rows = [line.split() for line in out.splitlines() if line.startswith(("torch ", "keras "))]
    assert {("torch", "adamw", "linear"), ("torch", "adamw", "cosine"),
            ("torch", "adafactor", "cosine_with_min_lr")} <= {tuple(r[:3]) for r in rows}
    keras = get_manager().plugin_for("hfopt-adamweightdecay")
    if keras is not None and keras.status == "ok":
        assert ("keras", "adamweightdecay", "cosine") in {tuple(r[:3]) for r in rows}
        assert any(r[:2] == ["keras", "create_optimizer"] for r in rows)
    assert f"wrote {png}" in out
    from matplotlib.image import imread

    height, width = imread(png).shape[:2]
    assert width > 2 * height > 500  # two panels side by side
    assert "torch adamw + cosine" in result.stderr and "step/s" in result.stderr  # the tqdm bars
