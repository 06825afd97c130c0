"""hfopt-adafactor through the registry: discovery stays torch-free, get_optimizer, the facade."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import fresh_manager  # noqa: F401 - the fixture, also when this folder runs alone


def test_get_optimizer_resolves_adafactor(fresh_manager):
    from hfopt_adafactor import Adafactor
    from hfopt_core import get_optimizer

    params = [torch.nn.Parameter(torch.ones(3, 2))]
    opt = get_optimizer("adafactor", params, relative_step=False, scale_parameter=False, lr=1e-3)
    assert type(opt) is Adafactor and opt.defaults["lr"] == 1e-3
    with pytest.raises(TypeError, match="pass the parameters"):
        get_optimizer("adafactor", None)


def test_specs_and_source(fresh_manager):
    spec = fresh_manager.lookup("optimizer", "adafactor", "torch")
    assert spec.factory == "hfopt_adafactor:Adafactor" and spec.frameworks == ("torch",)
    assert spec.source.startswith("hfopt-adafactor==")
    assert set(spec.exports) == {"Adafactor", "AdafactorSchedule", "get_adafactor_schedule"}
    schedule = fresh_manager.lookup("schedule", "adafactor", "torch")
    assert schedule.takes == () and schedule.requires == () and schedule.accepts_kwargs


def test_facade_exports(fresh_manager):
    import hfopt_adafactor
    import hfopt_core

    assert hfopt_core.Adafactor is hfopt_adafactor.Adafactor
    assert hfopt_core.AdafactorSchedule is hfopt_adafactor.AdafactorSchedule
    assert hfopt_core.get_adafactor_schedule is hfopt_adafactor.get_adafactor_schedule
    with pytest.raises(AttributeError):
        hfopt_adafactor.NotAThing  # noqa: B018


def test_discovery_and_package_import_do_not_import_torch():
    code = (
        "import sys, hfopt_adafactor, hfopt_adafactor.plugin\n"
        "from hfopt_core import get_manager\n"
        "names = get_manager().names('optimizer')\n"
        "assert 'adafactor' in names, names\n"
        "assert 'adafactor' in get_manager().names('schedule')\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_conforms_to_the_plugin_contract():
    from hfopt_core.testing import check_plugin

    specs = check_plugin("hfopt_adafactor.plugin", distribution="hfopt-adafactor")
    assert {(s.kind, s.name) for s in specs} == {("optimizer", "adafactor"), ("schedule", "adafactor")}


README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_runs(fresh_manager):
    from hfopt_core.testing import run_readme_examples

    run_readme_examples(README)
