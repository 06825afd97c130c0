"""The plugin template (what third parties copy) works as documented once installed."""
from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import hfopt_core
from hfopt_core import get_optimizer, get_scheduler, set_manager
from hfopt_core.testing import check_plugin

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "hfopt-plugin-template"
VERSION = tomllib.loads((TEMPLATE / "pyproject.toml").read_text())["project"]["version"]  # stated once, there


def install(site: Path, source: Path, distribution: str, package: str) -> None:
    """A dist-info in ``site`` like `pip install -e source` writes."""
    info = site / f"{package}-{VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {VERSION}\n")
    (info / "entry_points.txt").write_text(f"[hfopt]\n{distribution} = {package}.plugin\n")
    (site / f"{package}.pth").write_text(str(source) + "\n")


def copy_template(target: Path, package: str, prefix: str) -> Path:
    """Copy the template, renamed the way its pyproject says (names in files and file names)."""
    distribution = package.replace("_", "-")
    shutil.copytree(TEMPLATE, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
    for path in sorted(target.rglob("*"), reverse=True):
        if path.is_file():
            text = path.read_text()
            for old, new in (("my_hfopt_plugin", package), ("my-hfopt-plugin", distribution),
                             ('"exponential"', f'"{prefix}_exponential"'), ('"sign_sgd"', f'"{prefix}_sign_sgd"')):
                text = text.replace(old, new)
            path.write_text(text)
        if "my_hfopt_plugin" in path.name:
            path.rename(path.with_name(path.name.replace("my_hfopt_plugin", package)))
    return target


@pytest.fixture
def installed_template(tmp_path, monkeypatch):
    """The template on sys.path with a dist-info like `pip install -e` would write."""
    install(tmp_path, TEMPLATE, "my-hfopt-plugin", "my_hfopt_plugin")
    for path in (str(TEMPLATE), str(tmp_path)):
        monkeypatch.syspath_prepend(path)
    monkeypatch.setenv("PYTHONPATH", f"{TEMPLATE}:{tmp_path}")
    importlib.invalidate_caches()
    old = set_manager(None)
    yield
    set_manager(old)


def test_template_conforms_and_its_closed_forms_hold(installed_template):
    specs = check_plugin("my_hfopt_plugin.plugin", distribution="my-hfopt-plugin")
    assert sorted(s.name for s in specs) == ["exponential", "sign_sgd"]
    fn = get_scheduler("exponential", None, num_warmup_steps=10, scheduler_specific_kwargs={"half_life": 5})
    assert [fn(t) for t in (5, 10, 15, 20)] == [0.5, 1.0, 0.5, 0.25]
    from hfopt_core import SignSGD, get_exponential_schedule

    assert get_exponential_schedule.__module__ == "my_hfopt_plugin.schedule"
    assert isinstance(get_optimizer("sign_sgd", [hfopt_core_param()], lr=0.1), SignSGD)
    assert "my-hfopt-plugin" in {p.name for p in hfopt_core.list_plugins()}


def hfopt_core_param():
    import torch

    return torch.nn.Parameter(torch.zeros(2))


def test_template_package_imports_no_framework(installed_template):
    out = subprocess.run([sys.executable, "-c", "import sys, my_hfopt_plugin, my_hfopt_plugin.plugin; "
                          "print('torch' in sys.modules)"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_two_plugins_made_from_the_template_test_in_one_pytest_run(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    for package, prefix in (("acme_one", "one"), ("acme_two", "two")):
        copy_template(tmp_path / package, package, prefix)
        install(site, tmp_path / package, package.replace("_", "-"), package)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HFOPT_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path / "acme_one"), str(tmp_path / "acme_two"), str(site)])
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                          str(tmp_path / "acme_one" / "tests"), str(tmp_path / "acme_two" / "tests")],
                         capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    per_copy = (TEMPLATE / "tests" / "test_my_hfopt_plugin.py").read_text().count("\ndef test_")
    assert f"{2 * per_copy} passed" in out.stdout
