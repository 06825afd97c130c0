"""hfopt demo: train a small regression MLP with a schedule picked by name through get_scheduler.

Usage: python examples/demo.py [--schedule cosine] [--steps 300] [--warmup 30]
"""
from __future__ import annotations

import argparse

import torch
from tqdm import tqdm

import hfopt_core
from hfopt_core import UnknownNameError, get_optimizer, get_scheduler


def build_optimizer(params, lr):
    """hfopt's AdamW when its plugin is installed, else torch's."""
    try:
        return get_optimizer("adamw", params, lr=lr, weight_decay=0.01), "hfopt adamw"
    except UnknownNameError:
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.01), "torch.optim.AdamW"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedule", default="cosine", help="any installed schedule name (see `hfopt list`)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--lr", type=float, default=1e-2)
    args = parser.parse_args()

    torch.manual_seed(0)
    inputs = torch.randn(512, 16)
    targets = torch.sin(inputs @ torch.randn(16, 1)) + 0.1 * torch.randn(512, 1)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.GELU(), torch.nn.Linear(64, 1))
    optimizer, optimizer_name = build_optimizer(model.parameters(), args.lr)
    scheduler = get_scheduler(args.schedule, optimizer, num_warmup_steps=args.warmup, num_training_steps=args.steps,
                              scheduler_specific_kwargs={"min_lr_rate": 0.1} if "min_lr" in args.schedule else None)
    print(f"hfopt {hfopt_core.__version__}: schedule {args.schedule!r} ({type(scheduler).__name__}), "
          f"optimizer {optimizer_name}, {args.steps} steps")

    losses = []
    bar = tqdm(range(args.steps), unit="step")
    for step in bar:
        batch = torch.randint(0, len(inputs), (64,))
        loss = torch.nn.functional.mse_loss(model(inputs[batch]), targets[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
            scheduler.step()
        else:  # metric-driven schedules (reduce_lr_on_plateau, greedy)
            scheduler.step(loss.item())
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")

    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    print(f"mean loss over the first 20 steps {first:.4f} -> last 20 steps {last:.4f}")
    if not last < first:
        raise SystemExit("the loss did not go down")


if __name__ == "__main__":
    main()
