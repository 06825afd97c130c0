"""Sign SGD with decoupled weight decay (an example third-party torch optimizer).

Per step, for every parameter ``p`` with gradient ``g``::

    p = p - lr * sign(g) - lr * weight_decay * p
"""
import math

import torch


class SignSGD(torch.optim.Optimizer):
    """Steps every parameter by ``lr`` against the sign of its gradient.

    Args:
        params: iterable of parameters or parameter groups.
        lr: step size, finite and >= 0. Defaults to ``1e-3``.
        weight_decay: decoupled weight decay, finite and >= 0. Defaults to ``0.0``.
    """

    def __init__(self, params, lr=1e-3, weight_decay=0.0):
        for name, value in (("lr", lr), ("weight_decay", weight_decay)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        """Performs one step; ``closure`` re-evaluates the model and returns the loss. Defaults to ``None``."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(torch.sign(p.grad), alpha=-group["lr"])
        return loss
