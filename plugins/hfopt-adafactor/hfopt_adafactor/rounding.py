"""Stochastic rounding of fp32 values to bfloat16.

A bfloat16 is the top 16 bits of an fp32. Adding a uniform random integer ``r`` in
``[0, 2**16)`` to the fp32 bit pattern and clearing the low 16 bits rounds the magnitude up
with probability equal to the dropped fraction, so ``E[round(x)] = x`` (unbiased), unlike
round-to-nearest which loses updates smaller than half a bfloat16 ulp.
"""
from __future__ import annotations

import torch

_LOW_BITS = 1 << 16
_HIGH_MASK = -_LOW_BITS  # 0xFFFF0000 as a signed int32


def stochastic_round_to_bf16_(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Round the fp32 tensor ``x`` in place to bfloat16-representable values, stochastically.

    Args:
        x: contiguous ``float32`` tensor; overwritten with values whose low 16 bits are zero.
        generator: the ``torch.Generator`` (on ``x``'s device) that draws the random bits.

    Returns ``x``. Non-finite values (inf, NaN) are left as they are; finite values whose
    magnitude rounds past bfloat16's largest finite value become inf, as rounding up would.
    """
    bits = x.view(torch.int32)
    noise = torch.randint(0, _LOW_BITS, x.shape, dtype=torch.int32, device=x.device, generator=generator)
    rounded = bits.add(noise).bitwise_and_(_HIGH_MASK)
    finite = torch.isfinite(x)
    bits.copy_(torch.where(finite, rounded, bits))
    return x


def generator_for(device: torch.device, seed: int, step: int, index: int) -> torch.Generator:
    """A generator seeded from (``seed``, ``step``, ``index``), so runs and resumes reproduce.

    Args:
        device: where the random bits are drawn.
        seed: the user's ``stochastic_rounding_seed``.
        step: the parameter's step count.
        index: position of the (first) parameter within the optimizer.
    """
    mixed = (seed * 0x9E3779B1 + step * 0x85EBCA77 + index * 0xC2B2AE3D) % (1 << 63)
    gen = torch.Generator(device=device)
    gen.manual_seed(mixed)
    return gen
