"""Lazy public names for plugin packages whose implementation imports a framework.

A plugin's package must import without torch (discovery imports ``pkg.plugin``, hence ``pkg``),
yet users write ``from pkg import Optimizer``. :func:`lazy_exports` gives the package a PEP 562
``__getattr__`` that imports each name's module on first use.
"""
from __future__ import annotations

import importlib
import sys

#: top-level framework module -> the extra that installs it (plugins name their extras alike).
FRAMEWORK_EXTRAS = {"torch": "torch", "tensorflow": "tensorflow", "keras": "tensorflow", "tf_keras": "tensorflow"}


def missing_framework(exc: ModuleNotFoundError) -> tuple[str, str] | None:
    """``(framework, extra)`` when ``exc`` is a missing framework (``("torch", "torch")``), else ``None``."""
    missing = (exc.name or "").split(".")[0]
    return (missing, FRAMEWORK_EXTRAS[missing]) if missing in FRAMEWORK_EXTRAS else None


def lazy_exports(package: str, names: dict[str, str], distribution: str):
    """Return ``(__getattr__, __dir__)`` for ``package`` exporting ``names`` lazily.

    Args:
        package: the package's ``__name__``.
        names: public name -> module that defines it (``{"AdamW": "hfopt_adamw.optimizer"}``).
        distribution: the distribution to name in the error when the framework is missing.

    A name is imported once and then cached in the package's namespace. When its module needs a
    framework that is not installed, the ``ModuleNotFoundError`` says which extra to install.
    """

    def __getattr__(name: str):
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        try:
            value = getattr(importlib.import_module(module), name)
        except ModuleNotFoundError as exc:
            framework = missing_framework(exc)
            if framework is None:
                raise
            missing, extra = framework
            raise ModuleNotFoundError(f"{package}.{name} needs {missing}: pip install '{distribution}[{extra}]'",
                                      name=missing) from exc
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
