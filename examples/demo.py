"""hfopt demo: fine-tune a small model several times, optimizers and schedules picked by name.

Every run starts from the same "pretrained" weights and fine-tunes them on embedded synthetic data
(a token-sequence classification task generated from a fixed seed: no download). Optimizers come
from ``get_optimizer(name, ...)`` and schedules from ``get_scheduler(name, ...)``, so any installed
plugin, third-party ones included, can be named. The demo prints a results table and writes one
PNG with the learning-rate curve of every installed schedule and the loss curve of every run.

When the Keras plugin ``hfopt-adamweightdecay`` is installed, two Keras runs join the table:
``create_optimizer`` (transformers' warmup + linear decay) and ``AdamWeightDecay`` driven by a
registry schedule picked by name.

Usage: python examples/demo.py [--steps 300] [--warmup 30] [--output build/hfopt-demo.png] [--no-keras]
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

import hfopt_core
from hfopt_core import get_manager, get_optimizer, get_scheduler

VOCAB, LENGTH, CLASSES = 64, 24, 2
TRAIN, EVAL, BATCH = 2048, 512, 64
ROOT = Path(__file__).resolve().parents[1]

#: (optimizer, optimizer kwargs, schedule, scheduler_specific_kwargs) for the torch runs.
TORCH_RUNS = [
    ("adamw", {"lr": 1e-2, "weight_decay": 0.01}, "linear", {}),
    ("adamw", {"lr": 1e-2, "weight_decay": 0.01}, "cosine", {}),
    ("adamw", {"lr": 1e-2, "weight_decay": 0.01}, "warmup_stable_decay", {"num_decay_steps": 0.2}),
    ("adamw", {"lr": 1e-2, "weight_decay": 0.01}, "inverse_sqrt", {}),
    ("adafactor", {"lr": 1e-2, "scale_parameter": False, "relative_step": False, "warmup_init": False},
     "cosine_with_min_lr", {"min_lr_rate": 0.1}),
]
#: scheduler_specific_kwargs for drawing schedules that need more than the step counts.
CURVE_KWARGS = {"warmup_stable_decay": {"num_decay_steps": 0.2}, "cosine_with_min_lr": {"min_lr_rate": 0.1},
                "cosine_warmup_with_min_lr": {"min_lr_rate": 0.1}, "polynomial": {"lr_init": 1.0, "power": 2.0},
                "cosine_with_restarts": {"num_cycles": 3}}


@dataclass
class Run:
    """One fine-tuning run: what was used and what came out."""

    framework: str
    optimizer: str
    schedule: str
    losses: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    accuracy: float = float("nan")

    @property
    def ms_per_step(self) -> float:
        """Median wall time of one training step in milliseconds (robust to a busy machine)."""
        return 1000 * statistics.median(self.step_seconds)

    @property
    def final_loss(self) -> float:
        """Mean training loss over the last 20 steps."""
        tail = self.losses[-20:]
        return sum(tail) / len(tail)


def resolve_kwargs(kwargs: dict, steps: int) -> dict:
    """Fractions of ``steps`` given for ``num_decay_steps`` become step counts."""
    out = dict(kwargs)
    if isinstance(out.get("num_decay_steps"), float):
        out["num_decay_steps"] = int(out["num_decay_steps"] * steps)
    return out


def make_data(seed: int = 0):
    """Synthetic token sequences; the label says whether tokens < VOCAB/2 outnumber the others,
    weighted by position (a task a mean-pooled embedding model learns in a few hundred steps)."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (TRAIN + EVAL, LENGTH), generator=g)
    weights = torch.linspace(1.5, 0.5, LENGTH)
    score = ((tokens < VOCAB // 2).float() * 2 - 1) @ weights + 0.5 * torch.randn(TRAIN + EVAL, generator=g)
    labels = (score > 0).long()
    return (tokens[:TRAIN], labels[:TRAIN]), (tokens[TRAIN:], labels[TRAIN:])


class TinyClassifier(torch.nn.Module):
    """Embedding, position weights, mean pooling and a two-layer head."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, 32)
        self.position = torch.nn.Parameter(torch.ones(LENGTH, 1))
        self.head = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(), torch.nn.Linear(64, CLASSES))

    def forward(self, tokens):
        return self.head((self.embed(tokens) * self.position).mean(dim=1))


def pretrained_model() -> TinyClassifier:
    """The shared starting point: a model pretrained for 150 steps on a related task (other data, every
    position weighted alike), which fine-tuning adapts to the position-weighted task."""
    torch.manual_seed(0)
    model = TinyClassifier()
    (tokens, _), _ = make_data(seed=1)
    labels = ((tokens < VOCAB // 2).float().sum(dim=1) > LENGTH / 2).long()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    for _ in range(150):
        batch = torch.randint(0, len(tokens), (BATCH,), generator=g)
        loss = torch.nn.functional.cross_entropy(model(tokens[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def torch_run(base, data, optimizer_name, optimizer_kwargs, schedule, schedule_kwargs, steps, warmup) -> Run:
    """Fine-tune a copy of ``base`` with the named optimizer and schedule."""
    (tokens, labels), (eval_tokens, eval_labels) = data
    model = copy.deepcopy(base)
    optimizer = get_optimizer(optimizer_name, model.parameters(), **optimizer_kwargs)
    scheduler = get_scheduler(schedule, optimizer, num_warmup_steps=warmup, num_training_steps=steps,
                              scheduler_specific_kwargs=resolve_kwargs(schedule_kwargs, steps) or None)
    run = Run("torch", optimizer_name, schedule)
    g = torch.Generator().manual_seed(2)
    bar = tqdm(range(steps), desc=f"torch {optimizer_name} + {schedule}", unit="step", leave=True, mininterval=0.5)
    for _ in bar:
        start = time.perf_counter()
        batch = torch.randint(0, len(tokens), (BATCH,), generator=g)
        loss = torch.nn.functional.cross_entropy(model(tokens[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        run.losses.append(loss.item())
        run.step_seconds.append(time.perf_counter() - start)
        bar.set_postfix(loss=f"{run.losses[-1]:.3f}", lr=f"{optimizer.param_groups[0]['lr']:.1e}", refresh=False)
    with torch.no_grad():
        run.accuracy = (model(eval_tokens).argmax(dim=1) == eval_labels).float().mean().item()
    return run


def keras_available() -> bool:
    """Whether the Keras optimizer plugin is installed and working."""
    info = get_manager().plugin_for("hfopt-adamweightdecay")
    return info is not None and info.status == "ok"


def keras_runs(base, data, steps, warmup, schedule="cosine") -> list[Run]:
    """Two Keras runs from the same pretrained weights as the torch runs: ``create_optimizer``
    (its own warmup + linear decay), and ``AdamWeightDecay`` with a registry schedule by name."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    from hfopt_core import create_optimizer

    (tokens, labels), (eval_tokens, eval_labels) = data
    x, y = tokens.numpy().astype("int32"), labels.numpy()
    weights = {k: v.detach().numpy() for k, v in base.state_dict().items()}

    class KerasTinyClassifier(keras.Model):
        """The torch model's architecture in Keras, initialised with its pretrained weights."""

        def __init__(self):
            super().__init__()
            const = keras.initializers.Constant
            self.embed = keras.layers.Embedding(VOCAB, 32, embeddings_initializer=const(weights["embed.weight"]))
            self.position = self.add_weight(shape=(LENGTH, 1), initializer=const(weights["position"]), name="position")
            self.hidden = keras.layers.Dense(64, activation="gelu", kernel_initializer=const(weights["head.0.weight"].T),
                                             bias_initializer=const(weights["head.0.bias"]))
            self.out = keras.layers.Dense(CLASSES, kernel_initializer=const(weights["head.2.weight"].T),
                                          bias_initializer=const(weights["head.2.bias"]))

        def call(self, inputs):
            return self.out(self.hidden(keras.ops.mean(self.embed(inputs) * self.position, axis=1)))

    runs = []
    for optimizer_name in ("create_optimizer", "adamweightdecay"):
        model = KerasTinyClassifier()
        if optimizer_name == "create_optimizer":
            optimizer, _ = create_optimizer(1e-2, num_train_steps=steps, num_warmup_steps=warmup,
                                            weight_decay_rate=0.01)
            run = Run("keras", "create_optimizer", "its WarmUp + linear decay")
        else:
            optimizer = get_optimizer("adamweightdecay", None, learning_rate=1e-2, weight_decay_rate=0.01)
            get_scheduler(schedule, optimizer, num_warmup_steps=warmup, num_training_steps=steps)  # installs it
            run = Run("keras", "adamweightdecay", schedule)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        @tf.function
        def train_step(xb, yb):
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        g = torch.Generator().manual_seed(2)  # the same batches as the torch runs
        bar = tqdm(range(steps), desc=f"keras {run.optimizer} + {run.schedule}", unit="step", leave=True,
                   mininterval=0.5)
        for _ in bar:
            start = time.perf_counter()
            batch = torch.randint(0, len(x), (BATCH,), generator=g).numpy()
            run.losses.append(float(train_step(x[batch], y[batch])))
            run.step_seconds.append(time.perf_counter() - start)
            bar.set_postfix(loss=f"{run.losses[-1]:.3f}", lr=f"{float(optimizer.learning_rate):.1e}", refresh=False)
        logits = model(eval_tokens.numpy().astype("int32"), training=False)
        run.accuracy = float(np.mean(np.argmax(np.asarray(logits), axis=1) == eval_labels.numpy()))
        runs.append(run)
    return runs


def schedule_curves(steps: int, warmup: int):
    """``{name: multipliers}`` for every installed schedule with a plain step form, and the skipped ones."""
    curves, skipped = {}, {}
    for spec in get_manager().specs("schedule"):
        if "python" not in spec.frameworks:
            skipped[spec.name] = "no step form (" + "/".join(spec.frameworks) + " only)"
            continue
        try:
            fn = get_scheduler(spec.name, None, num_warmup_steps=warmup, num_training_steps=steps,
                               scheduler_specific_kwargs=resolve_kwargs(CURVE_KWARGS.get(spec.name, {}), steps))
        except (TypeError, ValueError) as exc:
            skipped[spec.name] = f"needs arguments: {exc}"
            continue
        curves[spec.name] = [float(fn(t)) for t in range(steps + 1)]
    return curves, skipped


def smooth(values: list[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average (bias-corrected), for readable loss curves."""
    out, avg = [], 0.0
    for i, v in enumerate(values, 1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight ** i))
    return out


def write_png(path: Path, curves: dict, skipped: dict, runs: list[Run], warmup: int, steps: int) -> bool:
    """One PNG: schedule curves on the left, the runs' loss curves on the right. False without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed, so no PNG: pip install 'hfopt-core[plot]'")
        return False
    figure = Figure(figsize=(13, 5), dpi=100, layout="constrained")
    left, right = figure.subplots(1, 2)
    for name, values in curves.items():
        left.plot(range(len(values)), values, label=name, linewidth=1.4)
    title = f"every installed schedule ({len(curves)}): warmup {warmup}, {steps} steps"
    if skipped:
        title += "\nnot drawn (no step form): " + ", ".join(skipped)
    left.set_title(title, fontsize="medium")
    left.set(xlabel="step", ylabel="learning-rate multiplier")
    left.legend(fontsize="x-small", ncol=2)
    left.grid(True, alpha=0.3)
    for run in runs:
        right.plot(range(1, len(run.losses) + 1), smooth(run.losses),
                   label=f"{run.framework} {run.optimizer} + {run.schedule}", linewidth=1.4)
    right.set(title="fine-tuning loss (EMA 0.9)", xlabel="step", ylabel="cross-entropy", yscale="log")
    right.legend(fontsize="x-small")
    right.grid(True, alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return True


def print_table(runs: list[Run], steps: int) -> None:
    """The results table: schedule, optimizer, final loss (mean of the last 20 steps), eval accuracy,
    median time per step."""
    rows = [("framework", "optimizer", "schedule", "final loss", "eval acc", "ms/step (median)")]
    rows += [(r.framework, r.optimizer, r.schedule, f"{r.final_loss:.4f}", f"{r.accuracy:.3f}",
              f"{r.ms_per_step:.2f}") for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) if j < 3 else cell.rjust(w) for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def main(argv=None) -> int:
    """Run the demo; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="fine-tuning steps per run (default 300)")
    parser.add_argument("--warmup", type=int, default=30, help="warmup steps (default 30)")
    parser.add_argument("--output", type=Path, default=ROOT / "build" / "hfopt-demo.png", help="the PNG to write")
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras runs even when the plugin is there")
    args = parser.parse_args(argv)
    if args.steps < 2 or not 0 <= args.warmup < args.steps:
        parser.error(f"need --steps >= 2 and 0 <= --warmup < --steps, got steps={args.steps} warmup={args.warmup}")

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    names = get_manager().names("schedule")
    print(f"hfopt {hfopt_core.__version__}: {len(names)} schedule names installed; "
          f"fine-tuning {args.steps} steps per run (warmup {args.warmup})")
    data = make_data(seed=0)
    base = pretrained_model()
    runs = []
    for optimizer_name, optimizer_kwargs, schedule, schedule_kwargs in TORCH_RUNS:
        if optimizer_name not in get_manager().names("optimizer") or schedule not in names:
            print(f"skipping {optimizer_name} + {schedule}: not installed (see `hfopt list`)")
            continue
        runs.append(torch_run(base, data, optimizer_name, optimizer_kwargs, schedule, schedule_kwargs,
                              args.steps, args.warmup))
    if args.no_keras:
        pass
    elif keras_available():
        runs += keras_runs(base, data, args.steps, args.warmup)
    else:
        print("Keras runs skipped: hfopt-adamweightdecay is not installed")
    if not runs:
        print("nothing to run: install hfopt-adamw and a schedule plugin")
        return 1

    print()
    print_table(runs, args.steps)
    curves, skipped = schedule_curves(args.steps, args.warmup)
    if write_png(args.output, curves, skipped, runs, args.warmup, args.steps):
        print(f"\nwrote {args.output.resolve()}")
    bad = [r for r in runs if not (math.isfinite(r.final_loss) and r.final_loss < r.losses[0])]
    if bad:
        print("the loss did not go down for: " + ", ".join(f"{r.optimizer} + {r.schedule}" for r in bad))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
