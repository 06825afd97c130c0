"""A schedule is declared once (issue 15, Deliver 2).

* A new first-party schedule folder (pyproject, package, plugin module: nothing else) is picked
  up everywhere with zero edits elsewhere: get_scheduler by name, mapping and phases on torch and
  plain Python, hfopt show and plot, the conformance kit, the docs curves, the derived test tables.
* A factory's signature is what get_scheduler passes, requires and accepts (a warmup-only factory
  with the default declaration works); the 0.1 form (explicit takes/requires) keeps working for
  factories whose signature cannot say it.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import sys
import textwrap

import pytest
import torch

from hfopt_core import get_manager, get_scheduler

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

FOLDER = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "hfopt-schedule-triangle"
        version = "0.1.0"
        description = "hfopt plugin: linear warmup, then a linear ramp back down to a floor"
        dependencies = ["hfopt-core>=0.1,<0.2"]

        [project.entry-points.hfopt]
        hfopt-schedule-triangle = "hfopt_schedule_triangle.plugin"

        [tool.setuptools]
        packages = ["hfopt_schedule_triangle"]
    """,
    "hfopt_schedule_triangle/__init__.py": '''
        """Linear warmup, then linear decay to a floor ``f``.

        Multiplier at step ``t`` with ``W`` warmup and ``T`` training steps::

            t < W:  t / max(1, W)
            else:   max(f, 1 - (1 - f) * (t - W) / max(1, T - W))
        """
        from hfopt_core.plugin import (StepFunction, as_scheduler, check_last_epoch, check_number, check_steps,
                                       warmup_then)

        __all__ = ["get_triangle_schedule", "triangle_multiplier"]


        def triangle_multiplier(step, ops, *, num_warmup_steps, num_training_steps, floor):
            """The multiplier at ``step``."""
            done = ops.to_float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
            return warmup_then(step, ops, num_warmup_steps, ops.maximum(floor, 1.0 - (1.0 - floor) * done))


        def get_triangle_schedule(optimizer, num_warmup_steps, num_training_steps, floor=0.0, last_epoch=-1):
            """Linear warmup, then linear decay to ``floor`` (a ratio of the lr). Defaults to ``0.0``."""
            num_warmup_steps, num_training_steps = check_steps(num_warmup_steps=num_warmup_steps,
                                                               num_training_steps=num_training_steps)
            floor = check_number("floor", floor, minimum=0, what="ratio")
            fn = StepFunction(triangle_multiplier, num_warmup_steps=num_warmup_steps,
                              num_training_steps=num_training_steps, floor=floor)
            return as_scheduler(optimizer, fn, check_last_epoch(last_epoch))
    ''',
    "hfopt_schedule_triangle/plugin.py": '''
        """hfopt plugin hooks of ``hfopt-schedule-triangle`` (light: no torch import)."""
        from hfopt_core.plugin import ScheduleSpec, hookimpl


        @hookimpl
        def hfopt_schedules():
            """Register the ``triangle`` schedule."""
            yield ScheduleSpec(
                name="triangle",
                factory="hfopt_schedule_triangle:get_triangle_schedule",
                frameworks=("python", "torch", "keras"),
                summary="linear warmup, then linear decay to a floor",
                example={"floor": 0.25},
                exports=("get_triangle_schedule",),
            )
    ''',
}


def install_folder(folder, site):
    """What an editable install of ``folder`` gives: its package importable, its pyproject's metadata
    and entry points as a dist-info (nothing but the folder's own files is read)."""
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    sys.path.insert(0, str(folder))
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    eps = "".join(f"{k} = {v}\n" for k, v in project["entry-points"]["hfopt"].items())
    (info / "entry_points.txt").write_text(f"[hfopt]\n{eps}")
    importlib.invalidate_caches()


def triangle(t, w, total, floor):
    return t / w if t < w else max(floor, 1 - (1 - floor) * (t - w) / (total - w))


@pytest.fixture
def scaffolded(site, tmp_path_factory, monkeypatch):
    folder = tmp_path_factory.mktemp("plugins") / "hfopt-schedule-triangle"
    for relative, text in FOLDER.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    install_folder(folder, site)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])))
    yield folder
    sys.path.remove(str(folder))
    for name in [m for m in sys.modules if m.startswith("hfopt_schedule_triangle")]:
        del sys.modules[name]


def test_a_new_first_party_schedule_folder_is_picked_up_everywhere(scaffolded, capsys, tmp_path):
    from hfopt_core.cli import main
    from hfopt_core.testing import check_plugin

    [spec] = [s for s in get_manager().specs("schedule") if s.name == "triangle"]
    assert spec.source == "hfopt-schedule-triangle==0.1.0"
    # get_scheduler: by name, as a mapping and in phases; torch and plain
    fn = get_scheduler("triangle", None, 4, 20, dict(spec.example))
    assert [fn(t) for t in range(25)] == pytest.approx([triangle(t, 4, 20, 0.25) for t in range(25)])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = get_scheduler({"name": "triangle", "num_warmup_steps": "20%", "floor": 0.25}, opt, num_training_steps=20)
    seen = []
    for _ in range(20):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.1 * triangle(t, 4, 20, 0.25) for t in range(20)])
    joined = get_scheduler([{"name": "constant", "steps": 5}, {"name": "triangle", "num_warmup_steps": 0}], None,
                           num_training_steps=25)
    assert joined(5) == 1.0 and joined(15) == pytest.approx(0.5)
    from hfopt_core import get_triangle_schedule  # exported through the facade from its declaration

    assert get_triangle_schedule(None, 4, 20)(22) == 0.0
    # hfopt show: signature, accepted kwargs and example from the declaration
    assert main(["show", "triangle", "--json"]) == 0
    [info] = json.loads(capsys.readouterr().out)
    assert info["takes"] == ["num_warmup_steps", "num_training_steps"] and info["requires"] == info["takes"]
    assert info["scheduler_specific_kwargs"] == ["floor", "last_epoch"] and info["example"] == {"floor": 0.25}
    assert "max(f, 1 - (1 - f)" in info["module_docstring"]
    # hfopt plot with the declared example, as the docs draw it
    assert main(["plot", "triangle", "--warmup", "2", "--steps", "10", "--set", "floor=0.25", "--csv"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [float(r.split(",")[1]) for r in rows] == pytest.approx([triangle(t, 2, 10, 0.25) for t in range(11)])
    # the conformance kit, with no extra arguments: the example comes from the declaration
    assert [s.name for s in check_plugin("hfopt_schedule_triangle.plugin", distribution="hfopt-schedule-triangle")] \
        == ["triangle"]
    # the docs site draws its curve and prints its formula (docs/_hooks.py)
    docs = pytest.importorskip("mkdocs.structure.files")
    hooks = _load_hooks()
    pages = tmp_path / "docs"
    pages.mkdir()
    (pages / "schedules.md").write_text("# Schedules\n")
    from mkdocs.config.defaults import MkDocsConfig

    config = MkDocsConfig()
    config.load_dict({"site_name": "t", "docs_dir": str(pages), "site_dir": str(tmp_path / "site"),
                      "use_directory_urls": False})
    config.validate()
    config.plugins._current_plugin = None  # what a build sets before calling a hook
    files = docs.Files([docs.File("schedules.md", str(pages), str(tmp_path / "site"), False)])
    hooks.on_files(files, config)
    try:
        assert files.get_file_from_path("img/schedules/triangle.png") is not None
        markdown = hooks._curves_markdown()
        assert "### `triangle`" in markdown and "--set floor=0.25" in markdown and "max(f, 1 - (1 - f)" in markdown
    finally:
        hooks.on_post_build(config)


def _load_hooks():
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "hfopt_docs_hooks", Path(__file__).resolve().parents[2] / "docs" / "_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


OLD_FORM = """
from hfopt_core.plugin import ScheduleSpec, StepFunction, as_scheduler, hookimpl

def ramp(step, ops, *, num_warmup_steps, num_training_steps):
    return ops.minimum(1.0, ops.to_float(step) / max(1, num_warmup_steps))

def get_ramp_schedule(optimizer, **kwargs):   # a signature that cannot say what it takes
    return as_scheduler(optimizer, StepFunction(ramp, num_warmup_steps=kwargs["num_warmup_steps"],
                                                num_training_steps=kwargs["num_training_steps"]))

def warm(step, ops, *, num_warmup_steps):
    return ops.minimum(1.0, ops.to_float(step) / max(1, num_warmup_steps))

def get_warm_schedule(optimizer, num_warmup_steps, last_epoch=-1):   # warmup only, default declaration
    return as_scheduler(optimizer, StepFunction(warm, num_warmup_steps=num_warmup_steps), last_epoch)

@hookimpl
def hfopt_schedules():
    yield ScheduleSpec(name="ramp", factory="acme_ramp:get_ramp_schedule", frameworks=("python", "torch"),
                       takes=("num_warmup_steps", "num_training_steps"), requires=("num_warmup_steps",))
    yield ScheduleSpec(name="warm_only", factory="acme_ramp:get_warm_schedule", frameworks=("python", "torch"))
"""


def test_the_old_declaration_form_keeps_working_and_a_warmup_only_factory_needs_none(site):
    from fakedists import make_dist

    make_dist(site, "acme-ramp", "1.0", "acme_ramp", OLD_FORM)
    fn = get_scheduler("ramp", None, 4, None)  # takes both (explicitly), requires only the warmup
    assert [fn(t) for t in (0, 2, 4, 9)] == [0.0, 0.5, 1.0, 1.0]
    with pytest.raises(ValueError, match="ramp requires `num_warmup_steps`, please provide that argument"):
        get_scheduler("ramp", None, None, 10)
    # 0.1's default (both step counts) broke this factory with "unexpected keyword num_training_steps"
    warm = get_scheduler("warm_only", None, 4, 100)
    assert [warm(t) for t in (0, 2, 8)] == [0.0, 0.5, 1.0]
    with pytest.raises(TypeError, match="has unknown key\\(s\\) 'num_cycles'; it accepts: last_epoch"):
        get_scheduler("warm_only", None, 4, 100, {"num_cycles": 1})
    [ramp] = [s for s in get_manager().specs("schedule") if s.name == "ramp"]
    assert ramp.takes == ("num_warmup_steps", "num_training_steps") and not ramp.derives_takes


def test_example_arguments_are_declared_once_for_every_first_party_schedule():
    names = {s.name for s in get_manager().specs("schedule") if s.source.startswith("hfopt-schedule-")}
    needs_more = {"cosine_with_min_lr", "cosine_warmup_with_min_lr", "warmup_stable_decay"}
    for spec in get_manager().specs("schedule"):
        if spec.name in needs_more:
            assert spec.example, spec.name  # the curves, the kit and the tests read them here
    assert needs_more <= names
    for spec in get_manager().specs("schedule"):
        if spec.name in names and "python" in spec.frameworks:
            extra = {"lr_init": 1.0} if spec.name == "polynomial" else {}
            fn = get_scheduler({"name": spec.name, **spec.example, **extra}, None, 10, 100)
            assert all(math.isfinite(fn(t)) and fn(t) >= 0 for t in range(0, 120, 7))
