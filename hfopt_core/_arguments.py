"""argparse types of the ``hfopt`` command line: numbers checked once, errors naming the option.

A value is echoed cut to a few dozen characters (a 5,000-digit ``--steps`` is not printed back).
"""
from __future__ import annotations

import argparse

from ._plot import MAX_STEPS
from .errors import _shortened


def _shown(text: str) -> str:
    return _shortened(text, 30)


def count(option: str, minimum: int = 0):
    """An argparse type: an int in ``[minimum, 2**53]``, else an error naming ``option``.

    Args:
        option: the option's name for the message (``"--steps"``).
        minimum: the smallest value accepted. Defaults to ``0``.
    """
    def parse(text: str) -> int:
        stripped = text.strip()
        if not stripped.lstrip("+-").isdigit() or len(stripped) > 30:
            if stripped.lstrip("+-").isdigit():
                raise argparse.ArgumentTypeError(f"{option} must be between {minimum} and {MAX_STEPS}, got {_shown(text)}")
            raise argparse.ArgumentTypeError(f"{option} must be an integer, got {_shown(text)!r}")
        value = int(stripped)
        if not minimum <= value <= MAX_STEPS:
            raise argparse.ArgumentTypeError(f"{option} must be between {minimum} and {MAX_STEPS}, got {_shown(text)}")
        return value
    return parse


def positive_float(option: str):
    """An argparse type: a positive finite number, else an error naming ``option``.

    Args:
        option: the option's name for the message (``"--lr"``).
    """
    def parse(text: str) -> float:
        try:
            value = float(text) if len(text) <= 400 else float("inf")
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} must be a number, got {_shown(text)!r}") from None
        if not (value > 0 and value < float("inf")):
            raise argparse.ArgumentTypeError(f"{option} must be a positive finite number, got {_shown(text)}")
        return value
    return parse
