"""Shared test helpers: the devices present, and a fresh plugin manager per test that asks."""
from __future__ import annotations

import os

import pytest

# Which Keras `tf.keras` means is fixed for the whole session (and the subprocesses tests start):
# Keras 3 unless a flavour run asked for tf-keras. Without this, the first test that imports
# transformers' TF code (a test oracle) sets TF_USE_LEGACY_KERAS=1 for everything after it in
# that worker, so results depended on test order.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "0")


def available_devices() -> list[str]:
    """``"cpu"`` always, plus ``"cuda"``, ``"mps"`` and ``"xpu"`` when torch sees them."""
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps")
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        devices.append("xpu")
    return devices


@pytest.fixture
def fresh_manager(monkeypatch):
    """A new :class:`hfopt_core.PluginManager` installed as the process-wide one for this test.

    It loads the real entry points unless the test sets ``HFOPT_*`` variables first; use
    ``fresh_manager.register(obj, name=...)`` to add throwaway plugins.
    """
    from hfopt_core import PluginManager, set_manager

    manager = PluginManager()
    old = set_manager(manager)
    yield manager
    set_manager(old)


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on ``sys.path`` for fake installed distributions (see ``fakedists.make_dist``).

    Clears the ``HFOPT_*`` variables and installs a fresh process-wide manager, which discovers
    what the test writes into the folder on first use. Modules imported from the folder are
    forgotten afterwards, so another test may reuse their names.
    """
    import sys

    from hfopt_core import set_manager

    monkeypatch.syspath_prepend(str(tmp_path))
    for var in ("HFOPT_LOAD_PLUGINS", "HFOPT_DISABLE_PLUGINS", "HFOPT_STRICT_PLUGINS",
                "HFOPT_DISABLE_PLUGIN_AUTOLOAD", "HFOPT_PREFER"):
        monkeypatch.delenv(var, raising=False)
    old = set_manager(None)
    yield tmp_path
    set_manager(old)
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]
