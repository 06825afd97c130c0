"""Which framework, which Keras flavour, which Keras backend: the one place hfopt answers it.

The core and every plugin ask here (plugins through :mod:`hfopt_core.plugin`); nothing else reads
``TF_USE_LEGACY_KERAS`` or ``KERAS_BACKEND``. This module imports no framework itself: Keras is
imported only by :func:`keras_module` and :func:`keras_backend`, when a Keras object is in use.

Flavours: ``"keras"`` is Keras 3, ``"tf_keras"`` the legacy tf-keras that ``tf.keras`` gives when
``TF_USE_LEGACY_KERAS`` is ``1``/``true``/``True``.

* :func:`requested_flavour`: what the environment asks for *now* (what ``tf.keras`` would pick).
* :func:`keras_flavour`: the flavour hfopt's own Keras classes (``WarmUp``, ``AdamWeightDecay``,
  the schedule adapter registered by :func:`hfopt_core.register_keras_objects`) are built for in
  this process: decided by the first call, then fixed, because a class cannot change its base
  class afterwards. :func:`check_keras_flavour` raises when the environment asks for the other
  flavour later (transformers' TF models set ``TF_USE_LEGACY_KERAS=1`` when they are imported).
* :func:`flavour_of` and :func:`framework_of`: the flavour / framework of a given object.
"""
from __future__ import annotations

import importlib
import os
import sys
import threading

from .errors import FrameworkError

__all__ = ["check_keras_flavour", "flavour_of", "framework_of", "is_keras_optimizer", "jax_x64_enabled",
           "keras_backend", "keras_flavour", "keras_module", "requested_flavour"]

#: the values of ``TF_USE_LEGACY_KERAS`` that make ``tf.keras`` the legacy tf-keras (TensorFlow's own rule).
LEGACY_KERAS_VALUES = ("1", "true", "True")
_FLAVOUR_NAMES = {"keras": "Keras 3", "tf_keras": "tf-keras"}
_lock = threading.Lock()
_chosen: list[str] = []


def requested_flavour(environ=None) -> str:
    """The flavour the environment asks for now: ``"tf_keras"`` when ``TF_USE_LEGACY_KERAS`` is
    ``1``/``true``/``True``, else ``"keras"``.

    Args:
        environ: the mapping to read. Defaults to ``None`` (``os.environ``).
    """
    value = (os.environ if environ is None else environ).get("TF_USE_LEGACY_KERAS")
    return "tf_keras" if value in LEGACY_KERAS_VALUES else "keras"


def keras_flavour() -> str:
    """The Keras flavour of hfopt's Keras classes in this process (``"keras"`` or ``"tf_keras"``).

    Fixed by the first call (from :func:`requested_flavour` at that moment), so it always says
    which Keras the classes already built use; see :func:`check_keras_flavour` for a later change.
    """
    if not _chosen:
        with _lock:
            if not _chosen:
                _chosen.append(requested_flavour())
    return _chosen[0]


def check_keras_flavour(what: str, flavour: str | None = None) -> None:
    """Raise :class:`~hfopt_core.errors.FrameworkError` when ``flavour`` differs from what is asked for now.

    Args:
        what: the object being built, for the message (``"AdamWeightDecay"``).
        flavour: the flavour ``what`` is built for. Defaults to ``None`` (:func:`keras_flavour`).

    The case it catches: hfopt's Keras classes were first loaded as Keras 3 (``TF_USE_LEGACY_KERAS``
    unset), then transformers' TF models set ``TF_USE_LEGACY_KERAS=1`` on import: their models are
    tf-keras models, and Keras would refuse the Keras 3 optimizer at ``compile`` with
    "Could not interpret optimizer identifier". The message says which Keras each side uses and the fix.
    """
    flavour = flavour or keras_flavour()
    wanted = requested_flavour()
    if flavour == wanted:
        return
    value = os.environ.get("TF_USE_LEGACY_KERAS")
    raise FrameworkError(
        f"{what} is a {_FLAVOUR_NAMES[flavour]} object (hfopt's Keras classes were loaded for {_FLAVOUR_NAMES[flavour]} "
        f"in this process), but TF_USE_LEGACY_KERAS is now {value!r}, so tf.keras and transformers' TF models use "
        f"{_FLAVOUR_NAMES[wanted]}: a {_FLAVOUR_NAMES[wanted]} model cannot use a {_FLAVOUR_NAMES[flavour]} "
        f"optimizer or schedule. transformers' TF models set TF_USE_LEGACY_KERAS=1 when they are imported; fix: "
        f"set TF_USE_LEGACY_KERAS={'1' if wanted == 'tf_keras' else '0'} before importing hfopt's Keras classes "
        f"(first line of the script, or in the shell), or import transformers' TF models first.")


def flavour_of(obj) -> str | None:
    """``"keras"`` or ``"tf_keras"`` for an instance of a Keras class (found on its MRO), else ``None``."""
    for cls in type(obj).__mro__:
        root = cls.__module__.partition(".")[0]
        if root in ("keras", "tf_keras"):
            return root
    return None


def keras_module(flavour: str | None = None):
    """The ``keras`` (Keras 3) or ``tf_keras`` module for ``flavour`` (default: :func:`keras_flavour`)."""
    return importlib.import_module(flavour or keras_flavour())


def keras_backend(flavour: str | None = None) -> str:
    """The Keras backend of ``flavour``: ``"tensorflow"`` for tf-keras, ``keras.backend.backend()`` for Keras 3.

    Args:
        flavour: ``"keras"`` or ``"tf_keras"``. Defaults to ``None`` (:func:`keras_flavour`).

    Imports Keras 3 when asked about it: the backend is what Keras itself resolved (from
    ``KERAS_BACKEND`` or ``~/.keras/keras.json``), never guessed from the environment.
    """
    if (flavour or keras_flavour()) == "tf_keras":
        return "tensorflow"
    return keras_module("keras").backend.backend()


def jax_x64_enabled() -> bool:
    """Whether jax computes in float64 (``jax_enable_x64``); ``False`` when jax is not imported."""
    jax = sys.modules.get("jax")
    return bool(jax is not None and jax.config.read("jax_enable_x64"))


def is_keras_optimizer(optimizer) -> bool:
    """Whether ``optimizer`` is a Keras 3 or tf-keras optimizer (new or legacy), without importing Keras.

    Only modules already imported are consulted: a Keras optimizer means Keras is in ``sys.modules``.
    """
    for name, paths in (("keras", ("Optimizer",)), ("tf_keras", ("Optimizer", "legacy.Optimizer"))):
        module = sys.modules.get(name)
        optimizers = getattr(module, "optimizers", None)
        for path in paths:
            cls = optimizers
            for part in path.split("."):
                cls = getattr(cls, part, None)
            if isinstance(cls, type) and isinstance(optimizer, cls):
                return True
    return False


def framework_of(optimizer) -> str:
    """``"python"`` for ``None``, ``"torch"`` for a ``torch.optim.Optimizer``, ``"keras"`` for a Keras 3
    or tf-keras optimizer (told apart without importing a framework); else :class:`FrameworkError`."""
    if optimizer is None:
        return "python"
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(optimizer, torch.optim.Optimizer):
        return "torch"
    if is_keras_optimizer(optimizer):
        return "keras"
    raise FrameworkError(
        f"expected a torch.optim.Optimizer or a Keras optimizer (or None for a plain step -> multiplier "
        f"callable), got {type(optimizer).__module__}.{type(optimizer).__qualname__}")
