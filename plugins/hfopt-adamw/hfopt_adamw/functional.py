"""The three implementations of one AdamW step with transformers' semantics.

For step ``t`` (already incremented), per parameter ``p`` with gradient ``g``::

    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    p = p - step_size(t) * m / (sqrt(v) + eps)
    p = p - lr * weight_decay * p                   (decay on the *updated* weights)

``adamw_single_tensor`` is the readable reference (one tensor at a time), ``adamw_foreach`` runs
the same ops on whole lists, and ``adamw_fused`` maps the step onto torch's fused AdamW kernel
(``torch._fused_adamw_``), which computes, with its own per-step bias corrections ``bc1, bc2``::

    p = p * (1 - lr' * wd') - (lr' / bc1) * m / (sqrt(v) / sqrt(bc2) + eps')

We hand the kernel a step count of ``+inf`` so that ``bc1 = bc2 = 1`` exactly, and fold
everything into host scalars, so the kernel computes our update with no extra pass::

    a   = lr * weight_decay
    lr' = (1 - a) * step_size(t)         eps' = eps
    wd' = a / lr'                        (0 when lr' == 0)

which expands to ``(1 - a) * (p - step_size * m / (sqrt(v) + eps))``: transformers' update.

Half-precision parameters (float16, bfloat16) keep their state in their own dtype, and every
implementation does the arithmetic in float32 and rounds once per step, as torch's fused kernel
does; the single-tensor and foreach paths therefore upcast to float32 copies and copy back.
"""
from __future__ import annotations

import math
import numbers

import torch

__all__ = ["step_size", "adamw_single_tensor", "adamw_foreach", "adamw_fused"]

_LOW_PRECISION = (torch.float16, torch.bfloat16)
_PLAIN = (torch.Tensor, torch.nn.Parameter)

#: elements per foreach piece on the CPU (see ``_chunks``): 4 MiB of float32 temporaries.
_CHUNK_NUMEL = 1 << 20

#: one float32 ``+inf`` scalar per device: the step count handed to the fused kernel.
_UNIT_BIAS_STEPS: dict = {}


def step_size(step: float, lr: float, beta1: float, beta2: float, correct_bias: bool = True) -> float:
    """The step size of step ``step``: ``lr * sqrt(1 - beta2**step) / (1 - beta1**step)``.

    Args:
        step: the step count ``t`` (1 on the first step).
        lr: learning rate.
        beta1: first-moment decay.
        beta2: second-moment decay.
        correct_bias: apply the bias correction; when ``False`` the step size is ``lr``.
            Defaults to ``True``.
    """
    if not correct_bias:
        return lr
    bias_correction1 = 1.0 - beta1 ** step
    bias_correction2 = 1.0 - beta2 ** step
    return lr * math.sqrt(bias_correction2) / bias_correction1


def _upcast(tensors):
    return [t.float() for t in tensors]


def _single_update(p, g, m, v, *, size, beta1, beta2, eps, decay):
    m.lerp_(g, 1.0 - beta1)                              # m = beta1 m + (1 - beta1) g
    v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)      # v = beta2 v + (1 - beta2) g^2
    denom = v.sqrt().add_(eps)
    p.addcdiv_(m, denom, value=-size)                    # p -= size m / (sqrt(v) + eps)
    if decay != 0.0:
        p.mul_(1.0 - decay)                              # p -= lr wd p


def _check_lists(params, grads, exp_avgs, exp_avg_sqs, step=None, steps=None) -> None:
    """The public functions' checks: parallel lists of matching tensors and valid step counts.

    The kernels index all four tensors as the parameter's layout, so a mismatch is a
    ``ValueError`` naming the list, the position and both shapes/dtypes/devices instead of a
    crash or scrambled numbers. ``AdamW`` checks (and caches) the same before calling the
    unchecked implementations.
    """
    lists = {"params": params, "grads": grads, "exp_avgs": exp_avgs, "exp_avg_sqs": exp_avg_sqs}
    if steps is not None:
        lists["steps"] = steps
    lengths = {name: len(lst) for name, lst in lists.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"the lists must have one entry per parameter, got lengths {lengths}")
    for i, p in enumerate(params):
        for name, tensors in (("grads", grads), ("exp_avgs", exp_avgs), ("exp_avg_sqs", exp_avg_sqs)):
            t = tensors[i]
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"{name}[{i}] must be a tensor, got {type(t).__name__}")
            if t.shape != p.shape or t.dtype != p.dtype or t.device != p.device or t.layout != p.layout:
                raise ValueError(f"{name}[{i}] does not match params[{i}]: shape {tuple(t.shape)}, dtype {t.dtype}, "
                                 f"device {t.device}, layout {t.layout} vs shape {tuple(p.shape)}, dtype {p.dtype}, "
                                 f"device {p.device}, layout {p.layout}")
    for name, value in ([("step", step)] if steps is None else [(f"steps[{i}]", s) for i, s in enumerate(steps)]):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
            raise ValueError(f"{name} must be a finite step count > 0 (1 on the first step), got {value!r}")


@torch.no_grad()
def adamw_single_tensor(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr, beta1, beta2, eps,
                        weight_decay, correct_bias=True):
    """One AdamW step, one tensor at a time (the reference implementation).

    The lists are checked first (same lengths; each gradient and moment of its parameter's
    shape, dtype and device; step counts finite and > 0): ``ValueError`` / ``TypeError``
    before any tensor is changed. Hyper-parameters are used as given (``AdamW`` validates them).

    Args:
        params: parameters, updated in place.
        grads: their gradients.
        exp_avgs: first moments ``m``, updated in place.
        exp_avg_sqs: second moments ``v``, updated in place.
        steps: each parameter's step count after this step (Python numbers).
        lr: learning rate.
        beta1: first-moment decay.
        beta2: second-moment decay.
        eps: added to ``sqrt(v)``.
        weight_decay: decoupled decay, applied after the update.
        correct_bias: bias-correct the step size. Defaults to ``True``.
    """
    _check_lists(params, grads, exp_avgs, exp_avg_sqs, steps=steps)
    _single_tensor_impl(params, grads, exp_avgs, exp_avg_sqs, steps, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                        weight_decay=weight_decay, correct_bias=correct_bias)


def _single_tensor_impl(params, grads, exp_avgs, exp_avg_sqs, steps, *, lr, beta1, beta2, eps, weight_decay,
                        correct_bias=True):
    decay = lr * weight_decay
    for p, g, m, v, t in zip(params, grads, exp_avgs, exp_avg_sqs, steps):
        size = step_size(t, lr, beta1, beta2, correct_bias)
        if p.dtype in _LOW_PRECISION:
            p32, g32, m32, v32 = _upcast((p, g, m, v))
            _single_update(p32, g32, m32, v32, size=size, beta1=beta1, beta2=beta2, eps=eps, decay=decay)
            for dst, src in ((p, p32), (m, m32), (v, v32)):
                dst.copy_(src)
        else:
            _single_update(p, g, m, v, size=size, beta1=beta1, beta2=beta2, eps=eps, decay=decay)


def _foreach_update(params, grads, exp_avgs, exp_avg_sqs, *, size, beta1, beta2, eps, decay):
    torch._foreach_lerp_(exp_avgs, grads, 1.0 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1.0 - beta2)
    denom = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(denom, eps)
    torch._foreach_addcdiv_(params, exp_avgs, denom, -size)
    if decay != 0.0:
        torch._foreach_mul_(params, 1.0 - decay)


@torch.no_grad()
def adamw_foreach(params, grads, exp_avgs, exp_avg_sqs, step, *, lr, beta1, beta2, eps, weight_decay,
                  correct_bias=True):
    """One AdamW step on whole tensor lists with ``torch._foreach_*`` ops.

    All tensors must share one device and dtype, and all parameters the step count ``step``
    (a Python number, after this step). Other arguments, and the checks, as in
    :func:`adamw_single_tensor`.
    """
    _check_lists(params, grads, exp_avgs, exp_avg_sqs, step=step)
    _foreach_impl(params, grads, exp_avgs, exp_avg_sqs, step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                  weight_decay=weight_decay, correct_bias=correct_bias)


def _foreach_impl(params, grads, exp_avgs, exp_avg_sqs, step, *, lr, beta1, beta2, eps, weight_decay,
                  correct_bias=True):
    if not params:
        return
    kwargs = dict(size=step_size(step, lr, beta1, beta2, correct_bias), beta1=beta1, beta2=beta2,
                  eps=eps, decay=lr * weight_decay)
    low_precision = params[0].dtype in _LOW_PRECISION
    for chunk in _chunks((params, grads, exp_avgs, exp_avg_sqs)):
        if low_precision:
            p32, g32, m32, v32 = (_upcast(ts) for ts in chunk)
            _foreach_update(p32, g32, m32, v32, **kwargs)
            for dst, src in ((chunk[0], p32), (chunk[2], m32), (chunk[3], v32)):
                torch._foreach_copy_(dst, src)
        else:
            _foreach_update(*chunk, **kwargs)


def _chunks(lists, max_numel=_CHUNK_NUMEL):
    """Split parallel tensor lists into pieces of at most ``max_numel`` elements in all.

    The foreach update allocates a ``sqrt(v) + eps`` temporary (and float32 copies for half
    precision) per piece; bounded pieces keep those in reused heap memory instead of fresh pages
    (on the CPU, fresh pages cost more than the arithmetic). Tensors larger than ``max_numel``
    are cut into flat slices when all four are contiguous plain tensors; others (strided ones,
    DTensors) are left whole.
    """
    if lists[0][0].device.type != "cpu":
        yield lists
        return
    piece, size = tuple([] for _ in lists), 0
    for tensors in zip(*lists):
        numel = tensors[0].numel()
        if numel > max_numel and type(tensors[0]) in _PLAIN and all(t.is_contiguous() for t in tensors):
            flats = [t.view(-1) for t in tensors]
            for start in range(0, numel, max_numel):
                yield tuple([f[start:start + max_numel]] for f in flats)
            continue
        if size + numel > max_numel and size:
            yield piece
            piece, size = tuple([] for _ in lists), 0
        for lst, t in zip(piece, tensors):
            lst.append(t)
        size += numel
    if size or piece[0]:
        yield piece


def _unit_bias_step(device) -> torch.Tensor:
    step = _UNIT_BIAS_STEPS.get(device)
    if step is None:
        step = _UNIT_BIAS_STEPS[device] = torch.full((), math.inf, dtype=torch.float32, device=device)
    return step


def fused_scalars(step, *, lr, beta1, beta2, weight_decay, correct_bias=True):
    """``(lr', wd')`` for ``torch._fused_adamw_`` run with bias corrections of 1 (see module doc).

    Returns ``None`` when ``lr * weight_decay == 1`` (the update is multiplied by 0 and the
    kernel cannot express it); callers then use :func:`adamw_foreach`.
    """
    keep = 1.0 - lr * weight_decay
    if keep == 0.0:
        return None
    kernel_lr = keep * step_size(step, lr, beta1, beta2, correct_bias)
    kernel_wd = lr * weight_decay / kernel_lr if kernel_lr != 0.0 else 0.0
    return kernel_lr, kernel_wd


@torch.no_grad()
def adamw_fused(params, grads, exp_avgs, exp_avg_sqs, step, *, lr, beta1, beta2, eps, weight_decay,
                correct_bias=True):
    """One AdamW step in a single pass of torch's fused AdamW kernel (``torch._fused_adamw_``).

    Reads ``p, g, m, v`` and writes ``p, m, v`` once: 28 bytes per float32 parameter. All
    tensors must share one device and floating dtype, and all parameters the step count
    ``step``. Tensors that are not contiguous are updated by :func:`adamw_foreach` instead (the
    kernel assumes one flat layout for all four; torch 2.13's own fused CPU AdamW gives wrong
    numbers for a transposed parameter with a contiguous gradient). Arguments, and the checks, as
    in :func:`adamw_foreach`.
    """
    _check_lists(params, grads, exp_avgs, exp_avg_sqs, step=step)
    _fused_impl(params, grads, exp_avgs, exp_avg_sqs, step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                weight_decay=weight_decay, correct_bias=correct_bias)


def _fused_impl(params, grads, exp_avgs, exp_avg_sqs, step, *, lr, beta1, beta2, eps, weight_decay,
                correct_bias=True):
    if not params:
        return
    scalars = fused_scalars(step, lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay,
                            correct_bias=correct_bias)
    if scalars is None:
        _foreach_impl(params, grads, exp_avgs, exp_avg_sqs, step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                      weight_decay=weight_decay, correct_bias=correct_bias)
        return
    lists = (params, grads, exp_avgs, exp_avg_sqs)
    if not all(all(map(torch.Tensor.is_contiguous, tensors)) for tensors in lists):
        # the kernel walks the four tensors as flat buffers: strided ones (a transposed
        # parameter, a channels-last gradient) go through the foreach ops instead
        dense = [all(t.is_contiguous() for t in ts) for ts in zip(*lists)]
        strided = [[t for t, ok in zip(tensors, dense) if not ok] for tensors in lists]
        _foreach_impl(*strided, step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                      weight_decay=weight_decay, correct_bias=correct_bias)
        params, grads, exp_avgs, exp_avg_sqs = ([t for t, ok in zip(tensors, dense) if ok] for tensors in lists)
        if not params:
            return
    kernel_lr, kernel_wd = scalars
    unit = _unit_bias_step(params[0].device)
    torch._fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, [], [unit] * len(params),
                        lr=kernel_lr, beta1=beta1, beta2=beta2, weight_decay=kernel_wd, eps=eps,
                        amsgrad=False, maximize=False)
