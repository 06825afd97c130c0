"""get_optimizer / get_accumulator through throwaway in-process plugins (llm-style fresh manager)."""
from __future__ import annotations

import types
from importlib.metadata import version

import pytest

from hfopt_core import (
    AccumulatorSpec,
    OptimizerSpec,
    PluginManager,
    UnknownNameError,
    get_accumulator,
    get_optimizer,
    hookimpl,
    set_manager,
)


class Recorder:
    """Stands for an optimizer or accumulator class: records how it was built."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


plugin = types.ModuleType("throwaway_plugin")
plugin.Recorder = Recorder


@hookimpl
def hfopt_optimizers():
    return [OptimizerSpec(name="sgdish", factory=f"{__name__}:Recorder", frameworks=("torch",)),
            OptimizerSpec(name="kerasish", factory=f"{__name__}:Recorder", frameworks=("keras",),
                          aliases=("kerasish_alias",))]


@hookimpl
def hfopt_accumulators():
    yield AccumulatorSpec(name="summing", factory=f"{__name__}:Recorder", frameworks=("tensorflow",))


plugin.hfopt_optimizers, plugin.hfopt_accumulators = hfopt_optimizers, hfopt_accumulators


@pytest.fixture
def manager():
    manager = PluginManager(environ={"HFOPT_DISABLE_PLUGIN_AUTOLOAD": "1"})
    manager.register(plugin, name="throwaway", distribution="throwaway-dist", version="9.9")
    old = set_manager(manager)
    yield manager
    set_manager(old)


def test_get_optimizer_passes_params_for_torch_and_not_for_keras(manager):
    torch_like = get_optimizer("sgdish", ["p1", "p2"], lr=0.5)
    assert torch_like.args == (["p1", "p2"],) and torch_like.kwargs == {"lr": 0.5}
    keras_like = get_optimizer("kerasish_alias", learning_rate=0.1)
    assert keras_like.args == () and keras_like.kwargs == {"learning_rate": 0.1}


def test_torch_optimizer_without_params_is_a_clear_error(manager):
    with pytest.raises(TypeError, match="pass the parameters"):
        get_optimizer("sgdish")


def test_get_accumulator(manager):
    assert get_accumulator("summing", size=3).kwargs == {"size": 3}
    with pytest.raises(UnknownNameError, match="Unknown accumulator 'summin'. .*Did you mean 'summing'"):
        get_accumulator("summin")


def test_unknown_optimizer_says_our_installed_distribution_is_disabled(manager):
    with pytest.raises(UnknownNameError) as info:
        get_optimizer("adafactor", [])
    lines = str(info.value).splitlines()
    assert lines[0] == "Unknown optimizer 'adafactor'."
    assert lines[1].startswith(f"It is provided by hfopt-adafactor=={version('hfopt-adafactor')}, which is installed but disabled: "
                               "HFOPT_DISABLE_PLUGIN_AUTOLOAD is set; unset HFOPT_DISABLE_PLUGIN_AUTOLOAD")
    assert "pip install" not in str(info.value)
    assert lines[2] == "Installed optimizers: kerasish, kerasish_alias, sgdish."


def test_sources_carry_the_declared_distribution(manager):
    assert manager.lookup("optimizer", "sgdish").source == "throwaway-dist==9.9"
    plugins = {p.name: p for p in manager.plugins()}
    assert plugins["throwaway"].provides == ("accumulator:summing", "optimizer:kerasish (alias kerasish_alias)",
                                             "optimizer:sgdish")
    assert {p.status for name, p in plugins.items() if name != "throwaway"} == {"disabled"}


def test_missing_framework_says_which_extra_to_install(monkeypatch):
    missing_torch = types.ModuleType("needs_torch_plugin")

    @hookimpl
    def hfopt_optimizers():
        return [OptimizerSpec(name="needs_torch", factory="needs_torch_impl:Optimizer", frameworks=("torch",))]

    missing_torch.hfopt_optimizers = hfopt_optimizers
    impl = types.ModuleType("needs_torch_impl")

    def fail(name):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    impl.__getattr__ = fail
    monkeypatch.setitem(__import__("sys").modules, "needs_torch_impl", impl)
    manager = PluginManager(environ={"HFOPT_DISABLE_PLUGIN_AUTOLOAD": "1"})
    manager.register(missing_torch, name="needs-torch", distribution="acme-needs-torch", version="1.0")
    old = set_manager(manager)
    try:
        with pytest.raises(ImportError, match=r"needs torch, which is not installed: pip install 'acme-needs-torch\[torch\]'"):
            get_optimizer("needs_torch", [])
    finally:
        set_manager(old)


def test_an_unknown_name_from_a_file_is_not_echoed_in_full():
    from hfopt_core import get_scheduler

    name = "x" * 1_000_000  # e.g. a tampered config's schedule name
    with pytest.raises(UnknownNameError) as info:
        get_scheduler(name, None, 1, 10)
    message = str(info.value)
    assert len(message) < 2_000 and "(1000000 characters)" in message and info.value.name == name
