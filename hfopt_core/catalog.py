"""Deprecated alias of the static table of first-party distributions (the 0.1 import path).

It only shapes "pip install ..." hints; what is available is what the installed plugins register
(:func:`hfopt_core.get_manager`).
"""
from __future__ import annotations

from ._catalog import DISTRIBUTIONS, distribution_for, distribution_for_export
from ._deprecated import warn_moved

__all__ = ["DISTRIBUTIONS", "distribution_for", "distribution_for_export"]

warn_moved(__name__, "hfopt_core.get_manager().plugins() (what is installed and what it provides)")
