"""``AdamW``: transformers' AdamW (decay after the update, eps outside the bias correction).

One class; each step groups the parameters with a gradient by device, dtype and step count and
sends each bucket to the fused kernel, the foreach ops or the per-tensor loop
(:mod:`hfopt_adamw.functional`).
"""
from __future__ import annotations

import torch
from torch.optim import Optimizer

from .functional import adamw_foreach, adamw_fused, adamw_single_tensor
from .step_counts import PackedSteps, step_dtype

__all__ = ["AdamW"]

try:  # torch.distributed.tensor appends DTensor here when it is imported
    from torch.utils._foreach_utils import _foreach_supported_types as _LIST_OP_TYPES
except ImportError:  # pragma: no cover - older torch
    _LIST_OP_TYPES = [torch.Tensor]

try:  # the device types this torch build has a fused AdamW kernel for (CPU since torch 2.4)
    from torch.utils._foreach_utils import _get_fused_kernels_supported_devices
    _FUSED_DEVICE_TYPES = frozenset(_get_fused_kernels_supported_devices())
except ImportError:  # pragma: no cover - older torch
    _FUSED_DEVICE_TYPES = frozenset({"cuda"})

#: keep Dynamo out of ``step`` (a compiled training step runs it eagerly, at kernel speed)
_no_dynamo = getattr(torch, "_disable_dynamo", lambda fn: fn)

_IMPLEMENTATIONS = {"fused": adamw_fused, "foreach": adamw_foreach}

#: parameter class -> whether foreach/fused ops accept it (filled on first sight)
_FAST_TYPE: dict = {}


def _validate(lr, betas, eps, weight_decay) -> None:
    """Check the hyper-parameters in transformers' order, with its messages."""
    if not lr >= 0.0:
        raise ValueError(f"Invalid learning rate: {lr} - should be >= 0.0")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter: {betas[0]} - should be in [0.0, 1.0)")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter: {betas[1]} - should be in [0.0, 1.0)")
    if not eps >= 0.0:
        raise ValueError(f"Invalid epsilon value: {eps} - should be >= 0.0")
    if not weight_decay >= 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay} - should be >= 0.0")


def _list_op_type(p) -> bool:
    cls = type(p)
    return cls is torch.Tensor or cls is torch.nn.Parameter or cls in _LIST_OP_TYPES


def _fused_ok(p) -> bool:
    return _list_op_type(p) and p.device.type in _FUSED_DEVICE_TYPES and torch.is_floating_point(p)


class AdamW(Optimizer):
    """Adam with decoupled weight decay, exactly as transformers' ``AdamW`` (removed in 4.50).

    Per step ``t`` and parameter ``p`` with gradient ``g``::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        step_size = lr * sqrt(1 - beta2**t) / (1 - beta1**t)       (lr if not correct_bias)
        p = p - step_size * m / (sqrt(v) + eps)
        p = p - lr * weight_decay * p

    Unlike ``torch.optim.AdamW``, the decay acts on the updated weights and ``eps`` is added to
    ``sqrt(v)`` before the bias correction.

    Args:
        params: iterable of parameters or of dicts defining parameter groups.
        lr: learning rate. Defaults to ``1e-3``.
        betas: ``(beta1, beta2)``, decay rates of the moment estimates. Defaults to ``(0.9, 0.999)``.
        eps: added to ``sqrt(v)`` for numerical stability. Defaults to ``1e-6``.
        weight_decay: decoupled weight decay, >= 0. Defaults to ``0.0``.
        correct_bias: bias-correct the step size (BERT's original code used ``False``).
            Defaults to ``True``.
        no_deprecation_warning: accepted for compatibility with transformers; no warning is ever
            emitted. Defaults to ``False``.
        foreach: ``True`` forces the multi-tensor (``torch._foreach_*``) implementation, ``False``
            rules it out. Defaults to ``None`` (choose automatically).
        fused: ``True`` forces torch's fused AdamW kernel (floating parameters on a device that
            has one), ``False`` rules it out. Defaults to ``None`` (choose automatically: fused
            where available, else foreach, else the per-tensor loop).

    State per parameter, as torch's Adam family: ``step`` (float32 0-d tensor on the CPU; live
    ones are views of one buffer per group, saved as separate tensors by ``state_dict``),
    ``exp_avg`` and ``exp_avg_sq`` (like the parameter).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, correct_bias=True,
                 no_deprecation_warning=False, *, foreach=None, fused=None):
        _validate(lr, betas, eps, weight_decay)
        if foreach and fused:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, correct_bias=correct_bias,
                        foreach=foreach, fused=fused)
        self._packed_steps: dict = {}
        super().__init__(params, defaults)

    def add_param_group(self, param_group) -> None:
        """Add a parameter group (its missing options take the defaults); its values are validated
        and, with ``fused=True``, its parameters must be floating tensors on a fused-capable device.

        Args:
            param_group: dict with ``"params"`` and optional per-group options.
        """
        options = {**self.defaults, **param_group}
        _validate(options["lr"], options["betas"], options["eps"], options["weight_decay"])
        if options["foreach"] and options["fused"]:
            raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        if group["fused"]:
            for p in group["params"]:
                if not _fused_ok(p):
                    self.param_groups.pop()
                    raise RuntimeError(
                        "`fused=True` requires floating point parameters on a device with a fused "
                        f"AdamW kernel {sorted(_FUSED_DEVICE_TYPES)}, got {p.dtype} on {p.device.type}")

    def __setstate__(self, state):
        super().__setstate__(state)
        self.__dict__.setdefault("_packed_steps", {})
        for group in self.param_groups:
            group.setdefault("correct_bias", True)
            group.setdefault("foreach", None)
            group.setdefault("fused", None)

    def state_dict(self):
        """torch's ``Optimizer.state_dict``, with every ``step`` as its own 0-d tensor.

        Live step counts are views of one buffer per group (see :mod:`hfopt_adamw.step_counts`);
        a view pickled on its own carries the whole buffer, so the saved state gets copies, exactly
        the layout torch's Adam family saves.
        """
        state_dict = super().state_dict()
        packed = state_dict["state"]
        for key, param_state in packed.items():
            step = param_state.get("step")
            if isinstance(step, torch.Tensor) and step._base is not None:
                packed[key] = {**param_state, "step": step.clone()}
        return state_dict

    @_no_dynamo
    @torch.no_grad()
    def step(self, closure=None):
        """Perform one optimization step.

        Args:
            closure: a callable that re-evaluates the model and returns the loss (run with
                gradients enabled). Defaults to ``None``.

        Returns the closure's loss, or ``None``.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _implementation(self, group, fast_type: bool, device: torch.device, dtype: torch.dtype) -> str:
        """``"fused"``, ``"foreach"`` or ``"single"`` for one bucket of a group."""
        fused, foreach = group["fused"], group["foreach"]
        if fused:
            return "fused"
        if foreach:
            return "foreach"
        if not fast_type:
            return "single"
        if fused is None and foreach is None and device.type in _FUSED_DEVICE_TYPES and dtype.is_floating_point:
            return "fused"
        if foreach is None:
            return "foreach"
        return "single"

    def _step_group(self, group) -> None:
        # bucket the parameters with a gradient by (list-op type, device, dtype)
        buckets: dict = {}
        states, steps = [], []
        state_of = self.state
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            if grad.is_sparse:
                raise RuntimeError("Adam does not support sparse gradients, please consider SparseAdam instead")
            state = state_of[p]
            if len(state) == 0:
                state["step"] = torch.zeros((), dtype=step_dtype())
                state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            dtype = p.dtype
            if dtype.is_complex:  # updated as (real, imag) pairs, like torch's Adam
                p, grad = torch.view_as_real(p), torch.view_as_real(grad)
                exp_avg, exp_avg_sq = torch.view_as_real(exp_avg), torch.view_as_real(exp_avg_sq)
                dtype = p.dtype
            cls = type(p)
            fast = _FAST_TYPE.get(cls)
            if fast is None:
                fast = _FAST_TYPE[cls] = _list_op_type(p)
            key = (fast, p.device, dtype)
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = ([], [], [], [], [])
            bucket[0].append(p)
            bucket[1].append(grad)
            bucket[2].append(exp_avg)
            bucket[3].append(exp_avg_sq)
            bucket[4].append(len(steps))
            states.append(state)
            steps.append(state["step"])
        if not steps:
            return
        packed = self._packed_steps.get(id(group))
        if packed is None or not packed.matches(group, steps):
            packed = self._packed_steps[id(group)] = PackedSteps(group, states, steps)
            if len(self._packed_steps) > len(self.param_groups):  # groups replaced by load_state_dict
                live = {id(g): g for g in self.param_groups}
                self._packed_steps = {key: record for key, record in self._packed_steps.items()
                                      if live.get(key) is record.owner}
        counts = packed.increment()
        beta1, beta2 = group["betas"]
        lr = group["lr"]
        if isinstance(lr, torch.Tensor):  # a tensor lr (as torch allows) is read once per step
            lr = lr.item()
        hyper = dict(lr=lr, beta1=beta1, beta2=beta2, eps=group["eps"],
                     weight_decay=group["weight_decay"], correct_bias=group["correct_bias"])
        for (fast, device, dtype), (params, grads, exp_avgs, exp_avg_sqs, positions) in buckets.items():
            name = self._implementation(group, fast, device, dtype)
            for count, tensors in _split_by_count(counts, positions, (params, grads, exp_avgs, exp_avg_sqs)):
                if name == "single":
                    adamw_single_tensor(*tensors, [count] * len(tensors[0]), **hyper)
                else:
                    _IMPLEMENTATIONS[name](*tensors, count, **hyper)


def _split_by_count(counts, positions, lists):
    """Yield ``(count, lists)`` per distinct step count (bias corrections differ per count)."""
    first = counts[positions[0]]
    if all(counts[i] == first for i in positions):
        yield first, lists
        return
    by_count: dict = {}
    for j, i in enumerate(positions):
        by_count.setdefault(counts[i], []).append(j)
    for count, js in by_count.items():
        yield count, tuple([lst[j] for j in js] for lst in lists)
