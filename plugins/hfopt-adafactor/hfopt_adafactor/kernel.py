"""The Adafactor update on one batch of same-kind parameters, op for op as transformers does it.

A batch is one parameter, several same-shape parameters stacked, or several non-factored
parameters packed flat (see :mod:`hfopt_adafactor.layouts`). Every elementwise op and every
reduction runs on data laid out like transformers' per-parameter loop (same kernels, same
operand order, same rounding), so on the CPU fp32 results are bit-identical to upstream, not
merely close; only the number of kernel launches and allocations differs.

With step ``t``, gradient ``g``, parameter ``p`` and ``rho_t`` the (relative) step size::

    lr_t      = rho_t * max(eps2, RMS(p))          (or rho_t without scale_parameter)
    beta2_t   = 1 - t ** decay_rate
    R_t       = beta2_t R_{t-1} + (1 - beta2_t) mean_cols(g^2 + eps1)      factored
    C_t       = beta2_t C_{t-1} + (1 - beta2_t) mean_rows(g^2 + eps1)
    V_t^-1/2  = (R_t / mean(R_t))^-1/2 (x) C_t^-1/2
    V_t       = beta2_t V_{t-1} + (1 - beta2_t) (g^2 + eps1)                 not factored
    u_t       = g V_t^-1/2 / max(1, RMS(g V_t^-1/2) / clip_threshold) * lr_t
    m_t       = beta1 m_{t-1} + (1 - beta1) u_t                             (with beta1)
    p_t       = p - weight_decay * lr_t * p - m_t   (or - u_t)
"""
from __future__ import annotations

import math

import torch


def relative_step_size(group: dict, step: int):
    """``rho_t``: ``min(1e-6 t if warmup_init else 1e-2, 1/sqrt(t))``, or the group's ``lr``.

    Args:
        group: the parameter group (``relative_step``, ``warmup_init``, ``lr``).
        step: the parameter's step count ``t`` (>= 1).
    """
    if not group["relative_step"]:
        return group["lr"]
    min_step = 1e-6 * step if group["warmup_init"] else 1e-2
    return min(min_step, 1.0 / math.sqrt(step))


def adafactor_update_(p, grad, state: dict, work, *, group: dict, step: int, factored: bool,
                      layout):
    """Apply one Adafactor step in place to ``p`` and the second/first-moment tensors in ``state``.

    Args:
        p: the parameter (or its fp32 copy / stack), updated in place.
        grad: the gradient in the compute dtype, same shape as ``p``.
        state: working state tensors ``exp_avg_sq_row``/``exp_avg_sq_col`` (factored) or
            ``exp_avg_sq``, and ``exp_avg`` when ``beta1`` is set; updated in place.
        work: scratch tensor shaped like ``p`` (its contents are overwritten), or ``None`` to
            allocate one.
        group: the parameter group's hyperparameters.
        step: the step count ``t`` after increment (the same for the whole batch).
        factored: whether the second moment is factored over the last two dimensions.
        layout: the batch's :mod:`~hfopt_adafactor.layouts` object (per-parameter RMS, broadcast).

    Returns ``RMS(p)`` before the update, shaped as ``layout.rms`` returns it.
    """
    eps1, eps2 = group["eps"]
    rho = relative_step_size(group, step)

    # lr_t = rho_t * max(eps2, RMS(p)): transformers picks the Python float eps2 or the fp32 RMS
    rms_p = layout.rms(p)
    if group["scale_parameter"]:
        above = rms_p > eps2
        lr = torch.where(above, rms_p * rho, eps2 * rho)
    else:
        above, lr = None, rho

    beta2t = 1.0 - math.pow(step, group["decay_rate"])
    work = torch.mul(grad, grad, out=work) if work is not None else torch.mul(grad, grad)
    if eps1 is not None:
        work.add_(eps1)                                             # g^2 + eps1
    if factored:
        row, col = state["exp_avg_sq_row"], state["exp_avg_sq_col"]
        row.mul_(beta2t).add_(work.mean(dim=-1), alpha=1.0 - beta2t)
        col.mul_(beta2t).add_(work.mean(dim=-2), alpha=1.0 - beta2t)
        r_factor = (row / row.mean(dim=-1, keepdim=True)).rsqrt_().unsqueeze(-1)
        c_factor = col.unsqueeze(-2).rsqrt()
        if work.is_contiguous():
            torch.mul(r_factor, c_factor, out=work)                 # V_t^-1/2
        else:  # g^2 kept the gradient's layout (as transformers'); the product is contiguous
            work = torch.mul(r_factor, c_factor)
    else:
        sq = state["exp_avg_sq"]
        sq.mul_(beta2t).add_(work, alpha=1.0 - beta2t)
        torch.rsqrt(sq, out=work)
    update = work.mul_(grad)                                        # g V_t^-1/2

    clip = (layout.rms(update) / group["clip_threshold"]).clamp_(min=1.0)
    update.div_(layout.expand(clip, update))
    update.mul_(layout.expand(lr, update) if isinstance(lr, torch.Tensor) else lr)

    beta1 = group["beta1"]
    if beta1 is not None:
        exp_avg = state["exp_avg"]
        exp_avg.mul_(beta1).add_(update, alpha=1 - beta1)
        update = exp_avg

    if group["weight_decay"] != 0:
        _decay_weights_(p, group["weight_decay"], lr, above, eps2 * rho if above is not None else None, layout)

    p.sub_(update)
    return rms_p


def _decay_weights_(p, weight_decay, lr, above, eps_lr, layout):
    """``p += (-weight_decay * lr_t) * p`` with transformers' rounding of the coefficient.

    transformers computes the coefficient in fp32 when ``lr_t`` is a tensor (RMS branch) and
    in Python double when it is a float (eps2 branch, or no ``scale_parameter``); the add itself
    is a fused multiply-add on the pre-update weights, so it runs per parameter with a float.
    """
    if above is None:
        alphas = [-weight_decay * lr] * layout.count
    else:
        from_rms = (-weight_decay * lr).reshape(-1).tolist()
        picks = above.reshape(-1).tolist()
        alphas = [a if big else -weight_decay * eps_lr for a, big in zip(from_rms, picks)]
    for piece, alpha in zip(layout.pieces(p), alphas):
        piece.add_(piece, alpha=alpha)
