"""The docs site builds with `mkdocs build --strict` (as `make docs` does), offline, and is complete."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HFOPT_", "PYTEST_"))}
    # no proxy and an unroutable one: a build that reached for the network would fail or hang here
    env.update(NO_MKDOCS_2_WARNING="1", MPLBACKEND="Agg", HTTP_PROXY="http://127.0.0.1:9",
               HTTPS_PROXY="http://127.0.0.1:9", NO_PROXY="")
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          cwd=config.parent, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    result = build(ROOT / "mkdocs.yml", site)
    assert result.returncode == 0, result.stdout + result.stderr
    return site


def text_of(page: Path) -> str:
    html = re.sub(r"(?s)<script.*?</script>", "", page.read_text(encoding="utf-8"))
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_every_docs_page_is_built_and_in_the_navigation(site):
    index = (site / "index.html").read_text(encoding="utf-8")
    for page in sorted((ROOT / "docs").glob("*.md")):
        built = site / f"{page.stem}.html"
        assert built.is_file(), page.name
        assert f'href="{page.stem}.html"' in index or page.stem == "index", f"{page.name} missing from the nav"


def test_each_schedule_has_a_generated_curve_on_the_schedules_page(site):
    from hfopt_core import get_manager

    page = (site / "schedules.html").read_text(encoding="utf-8")
    for spec in get_manager().specs("schedule"):
        if "python" in spec.frameworks:
            png = site / "img" / "schedules" / f"{spec.name}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", spec.name
            assert f'src="img/schedules/{spec.name}.png"' in page
        else:
            assert f"cannot plot schedule {spec.name!r}" in unescape(page), spec.name
    assert not list((ROOT / "docs").rglob("*.png")), "curves are generated at build time, never committed"
    # each curve comes with the formula from its plugin's module docstring
    assert "max(0, 0.5 * (1 + cos(pi * c * 2 * p)))" in unescape(page)


def test_hook_and_api_references_are_rendered_from_docstrings(site):
    import inspect

    from hfopt_core import api, hookspecs

    hooks = text_of(site / "hooks.html")
    for hook in ("hfopt_schedules", "hfopt_optimizers", "hfopt_accumulators"):
        first_line = inspect.getdoc(getattr(hookspecs, hook)).splitlines()[0]
        assert hook in hooks and first_line in hooks
    assert "ScheduleSpec" in hooks and "accepts_kwargs" in hooks
    reference = text_of(site / "api.html")
    for name in ("get_scheduler", "get_optimizer", "get_accumulator", "PluginManager", "UnknownNameError",
                 "StepFunction", "check_plugin"):
        assert name in reference, name
    first_line = inspect.getdoc(api.get_scheduler).splitlines()[0]
    assert first_line.split(" (")[0] in reference  # "Build any installed learning-rate schedule from its name"


def test_the_cli_page_carries_each_command_s_help(site):
    page = text_of(site / "cli.html")
    for command in ("list", "doctor", "show", "plot"):
        assert f"usage: hfopt {command}" in page, command
    assert "--set KEY=VALUE" in page and "hfopt-help" not in page


def test_a_broken_link_fails_the_strict_build(tmp_path):
    # the real configuration and hooks (without the nav, which the hook fills) on two small pages
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text(config[:config.index("\nnav:")] + "\n", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "_hooks.py", tmp_path / "docs" / "_hooks.py")
    (tmp_path / "docs" / "index.md").write_text("# Home\n\nSee [the other page](other.md).\n")
    (tmp_path / "docs" / "other.md").write_text("# Other\n")
    good = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert good.returncode == 0, good.stdout + good.stderr
    (tmp_path / "docs" / "other.md").write_text("# Other\n\nSee [nowhere](does-not-exist.md).\n")
    broken = build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert broken.returncode != 0
    assert "does-not-exist.md" in broken.stdout + broken.stderr
