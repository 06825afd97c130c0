"""The plugin template (what third parties copy) works as documented once installed."""
from __future__ import annotations

import importlib
from pathlib import Path

import pytest

import hfopt_core
from hfopt_core import get_scheduler, set_manager
from hfopt_core.testing import check_plugin

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "hfopt-plugin-template"


@pytest.fixture
def installed_template(tmp_path, monkeypatch):
    """The template on sys.path with a dist-info like `pip install -e` would write."""
    info = tmp_path / "my_hfopt_plugin-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-hfopt-plugin\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[hfopt]\nmy-hfopt-plugin = my_hfopt_plugin.plugin\n")
    for path in (str(TEMPLATE), str(tmp_path)):
        monkeypatch.syspath_prepend(path)
    monkeypatch.setenv("PYTHONPATH", f"{TEMPLATE}:{tmp_path}")
    importlib.invalidate_caches()
    old = set_manager(None)
    yield
    set_manager(old)


def test_template_conforms_and_its_closed_form_holds(installed_template):
    specs = check_plugin("my_hfopt_plugin.plugin", distribution="my-hfopt-plugin")
    assert [s.name for s in specs] == ["exponential"]
    fn = get_scheduler("exponential", None, num_warmup_steps=10, scheduler_specific_kwargs={"half_life": 5})
    assert [fn(t) for t in (5, 10, 15, 20)] == [0.5, 1.0, 0.5, 0.25]
    from hfopt_core import get_exponential_schedule

    assert get_exponential_schedule.__module__ == "my_hfopt_plugin"
    assert "my-hfopt-plugin" in {p.name for p in hfopt_core.list_plugins()}
