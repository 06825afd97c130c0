"""Layer-wise scheduling: ``get_scheduler`` given transformers' ``LayerWiseDummyOptimizer``.

The Trainer's ``optim="*_layerwise"`` builds one optimizer per parameter, steps each from a
post-accumulate-grad hook, and hands the Trainer a dummy optimizer whose ``optimizer_dict`` maps
each parameter to its optimizer. :func:`layerwise_scheduler` builds one scheduler per real
optimizer, steps each from a hook registered after the optimizer's (so it runs right after that
parameter's update, as ``scheduler.step()`` follows ``optimizer.step()``), and returns a
scheduler for the dummy that reports their learning rates. The dummy is recognized by its
``optimizer_dict`` attribute: the core never imports transformers. torch is imported only here,
when such an optimizer is given.
"""
from __future__ import annotations

from collections.abc import Mapping


def layerwise_optimizers(optimizer):
    """The ``{parameter: optimizer}`` mapping of a layer-wise dummy optimizer, else ``None``."""
    if optimizer is None:
        return None
    optimizers = getattr(optimizer, "optimizer_dict", None)
    return optimizers if isinstance(optimizers, Mapping) else None


def layerwise_scheduler(dummy, build):
    """Schedule every per-parameter optimizer of ``dummy`` and return the dummy's scheduler.

    Args:
        dummy: the layer-wise dummy optimizer (has ``optimizer_dict``).
        build: ``build(optimizer) -> scheduler`` for one real optimizer.

    Every scheduler is built before any hook is registered, so a bad argument leaves the model
    untouched. Returns a :class:`LayerWiseScheduler`.
    """
    optimizers = layerwise_optimizers(dummy)
    schedulers = {param: build(opt) for param, opt in optimizers.items()}
    handles = []
    for param, scheduler in schedulers.items():
        if getattr(param, "requires_grad", False):
            handles.append(param.register_post_accumulate_grad_hook(_stepper(scheduler)))
    return _scheduler_class()(dummy, schedulers, handles)


def _stepper(scheduler):
    def step_after_update(_param):
        scheduler.step()
    return step_after_update


_CLASS = None


def _scheduler_class():
    global _CLASS
    if _CLASS is None:
        from torch.optim.lr_scheduler import LRScheduler

        class LayerWiseScheduler(LRScheduler):
            """The scheduler of a layer-wise dummy optimizer (transformers' ``LayerWiseDummyScheduler``).

            The per-parameter schedulers step themselves from gradient hooks; :meth:`step` only
            counts and reads their learning rates. :meth:`get_last_lr` lists every parameter
            optimizer's group learning rates in ``optimizer_dict`` order, and the dummy's own group
            shows the first one (what the Trainer logs). ``state_dict`` carries every
            per-parameter scheduler's state, so a checkpoint restores them (and their optimizers'
            learning rates, which the Trainer's checkpoint of the dummy lacks). ``remove_hooks()``
            detaches the hooks.

            Args:
                optimizer: the dummy optimizer.
                schedulers: ``{parameter: scheduler}`` for its per-parameter optimizers.
                handles: the hook handles (for :meth:`remove_hooks`).
            """

            def __init__(self, optimizer, schedulers, handles):
                # LRScheduler.__init__ would write one lr per dummy group; this keeps its
                # attributes without stepping the dummy (transformers' own class fails on torch
                # >= 2.6 for that reason: one dummy group, many learning rates).
                self.optimizer = optimizer
                self.default_lr = optimizer.defaults.get("lr")  # transformers' attribute
                self.schedulers = schedulers
                self._handles = handles
                self.last_epoch = 0
                self._step_count = 1
                self.base_lrs = [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]
                self._last_lr = self.get_lr()
                self._show(self._last_lr)

            def get_lr(self):
                """Every per-parameter optimizer's group learning rates, in ``optimizer_dict`` order."""
                lrs = [group["lr"] for scheduler in self.schedulers.values()
                       for group in scheduler.optimizer.param_groups]
                return lrs or [group["lr"] for group in self.optimizer.param_groups]

            def _get_closed_form_lr(self):
                return self.base_lrs

            def _show(self, lrs):
                if lrs and self.optimizer.param_groups:
                    first = lrs[0]
                    self.optimizer.param_groups[0]["lr"] = float(first) if hasattr(first, "item") else first

            def step(self, epoch=None):
                """Count one step and read the per-parameter learning rates (their hooks stepped them)."""
                self._step_count += 1
                self.last_epoch += 1
                self._last_lr = self.get_lr()
                self._show(self._last_lr)

            def state_dict(self):
                """This scheduler's counters and every per-parameter scheduler's state (plain data)."""
                return {"last_epoch": self.last_epoch, "_step_count": self._step_count,
                        "_last_lr": list(self._last_lr), "base_lrs": list(self.base_lrs),
                        "schedulers": [s.state_dict() for s in self.schedulers.values()]}

            def load_state_dict(self, state_dict):
                """Restore :meth:`state_dict`'s output (per-parameter states in ``optimizer_dict`` order)."""
                states = state_dict.get("schedulers")
                if states is not None:
                    if len(states) != len(self.schedulers):
                        raise ValueError(f"state_dict has {len(states)} per-parameter scheduler states, "
                                         f"this scheduler has {len(self.schedulers)}")
                    for scheduler, state in zip(self.schedulers.values(), states):
                        scheduler.load_state_dict(state)
                        # the Trainer checkpoints only the dummy optimizer: put the restored
                        # learning rates back on each per-parameter optimizer
                        last = state.get("_last_lr")
                        for group, lr in zip(scheduler.optimizer.param_groups, last or ()):
                            if hasattr(group["lr"], "fill_"):
                                group["lr"].fill_(lr)
                            else:
                                group["lr"] = lr
                for key in ("last_epoch", "_step_count", "base_lrs"):
                    if key in state_dict:
                        setattr(self, key, state_dict[key])
                self._last_lr = self.get_lr()
                self._show(self._last_lr)

            def remove_hooks(self):
                """Detach the gradient hooks that step the per-parameter schedulers."""
                for handle in self._handles:
                    handle.remove()
                self._handles = []

        _CLASS = LayerWiseScheduler
    return _CLASS
