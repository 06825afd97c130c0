"""`hfopt show` and `hfopt plot`: every installed schedule, a third-party plugin, the template plugin."""
from __future__ import annotations

import csv
import importlib
import inspect
import io
import json
import math
import pkgutil
import sys
from pathlib import Path

import pytest
from fakedists import make_dist, schedule_plugin
from invalid_cases import Case, check_case, parametrize

from hfopt_core import get_manager, get_scheduler, set_manager
from hfopt_core._plot import curves, parse_settings
from hfopt_core.cli import main

TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "hfopt-plugin-template"



def needs(spec) -> dict:
    """The settings a schedule's curve is drawn with: the example arguments its plugin declares."""
    return dict(spec.example)




def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def read_csv(text: str) -> dict[str, list[float]]:
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert header[0] == "step" and [int(r[0]) for r in body] == list(range(len(body)))
    return {name: [float(r[i + 1]) for r in body] for i, name in enumerate(header[1:])}


def schedule_specs():
    return get_manager().specs("schedule")


# -- show -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", schedule_specs(), ids=lambda s: s.name)
def test_show_describes_every_installed_schedule(spec, capsys):
    code, out, _ = run(capsys, "show", spec.name, "--kind", "schedule", "--json")
    assert code == 0
    [info] = json.loads(out)
    factory = pkgutil.resolve_name(spec.factory)
    signature = inspect.signature(factory)
    distribution, version = spec.source.split("==")
    assert (info["name"], info["distribution"], info["version"]) == (spec.name, distribution, version)
    assert info["frameworks"] == list(spec.frameworks) and info["aliases"] == list(spec.aliases)
    assert info["signature"] == f"{factory.__name__}{signature}"
    assert [p["name"] for p in info["parameters"]] == list(signature.parameters)
    assert info["docstring"] == inspect.getdoc(factory)
    # the signature is the declaration: the step counts it names, required when they have no default
    params = list(signature.parameters.values())[1:]
    takes = [a for a in ("num_warmup_steps", "num_training_steps") if a in [p.name for p in params]]
    required = [p.name for p in params if p.name in takes and p.default is inspect.Parameter.empty]
    assert info["takes"] == takes and info["requires"] == required
    assert info["example"] == dict(spec.example)
    code, text, _ = run(capsys, "show", spec.name, "--kind", "schedule")
    assert code == 0 and f"provided by   {distribution} {version}" in text and info["signature"] in text


def test_show_lists_the_scheduler_specific_kwargs_from_the_signature(capsys):
    # what get_scheduler accepts, last_epoch included (transformers passes it on too): one computation
    expected = {"cosine": ["num_cycles", "last_epoch"], "linear": ["last_epoch"], "constant": [],
                "inverse_sqrt": ["timescale", "last_epoch"], "polynomial": ["lr_end", "power", "last_epoch", "lr_init"],
                "reduce_lr_on_plateau": "**kwargs"}
    for name, kwargs in expected.items():
        [info] = json.loads(run(capsys, "show", name, "--json")[1])
        assert info["scheduler_specific_kwargs"] == kwargs, name
    [constant] = json.loads(run(capsys, "show", "constant", "--json")[1])
    assert constant["accepts_kwargs"] is False
    assert "none (ignored with a warning)" in run(capsys, "show", "constant")[1]


def test_show_formula_and_defaults_and_aliases(capsys):
    code, text, _ = run(capsys, "show", "cosine")
    assert code == 0
    assert "num_cycles=0.5" in text and "0.5 * (1 + cos(pi * c * 2 * p))" in text  # the module's formula
    [info] = json.loads(run(capsys, "show", "wsd", "--json")[1])
    assert info["name"] == "warmup_stable_decay" and info["aliases"] == ["wsd"]
    defaults = {p["name"]: p["default"] for p in info["parameters"]}
    assert defaults["warmup_type"] == "'linear'" and defaults["num_decay_steps"] is None


def test_show_a_name_of_two_kinds_shows_both_unless_kind_is_given(capsys):
    infos = json.loads(run(capsys, "show", "adafactor", "--json")[1])
    assert sorted(i["kind"] for i in infos) == ["optimizer", "schedule"]
    infos = json.loads(run(capsys, "show", "adafactor", "--kind", "optimizer", "--json")[1])
    assert [i["kind"] for i in infos] == ["optimizer"] and "scheduler_specific_kwargs" not in infos[0]


def test_show_an_unknown_name_suggests_the_nearest(capsys):
    code, out, err = run(capsys, "show", "cosin")
    assert code == 1 and out == ""
    assert "Unknown component 'cosin'. Did you mean 'cosine'?" in err


def test_show_and_plot_a_third_party_schedule(site, capsys):
    make_dist(site, "acme-half", "1.2", "acme_half", schedule_plugin("half", "acme_half"))
    [info] = json.loads(run(capsys, "show", "half", "--json")[1])
    assert (info["distribution"], info["version"]) == ("acme-half", "1.2")
    assert info["signature"] == "get_half_schedule(optimizer, num_warmup_steps, num_training_steps, scale=1.0, last_epoch=-1)"
    assert info["scheduler_specific_kwargs"] == ["scale", "last_epoch"]
    code, out, _ = run(capsys, "plot", "half", "linear", "--warmup", "2", "--steps", "6", "--set", "scale=3", "--csv")
    assert code == 0
    values = read_csv(out)
    assert values["half"] == [0.5] * 7  # the plugin's closed form; scale went to half only
    assert values["linear"] == [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0]
    png = site / "half.png"
    assert run(capsys, "plot", "half", "-o", str(png))[0] == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_show_and_plot_the_template_plugin(site, monkeypatch, capsys):
    info_dir = site / "my_hfopt_plugin-0.1.0.dist-info"
    info_dir.mkdir()
    (info_dir / "METADATA").write_text("Metadata-Version: 2.1\nName: my-hfopt-plugin\nVersion: 0.1.0\n")
    (info_dir / "entry_points.txt").write_text("[hfopt]\nmy-hfopt-plugin = my_hfopt_plugin.plugin\n")
    monkeypatch.syspath_prepend(str(TEMPLATE))
    importlib.invalidate_caches()
    [info] = json.loads(run(capsys, "show", "exponential", "--json")[1])
    assert info["distribution"] == "my-hfopt-plugin" and info["scheduler_specific_kwargs"] == ["half_life", "last_epoch"]
    assert "0.5 ** ((t - W) / h)" in info["module_docstring"]
    [opt] = json.loads(run(capsys, "show", "sign_sgd", "--json")[1])
    assert opt["kind"] == "optimizer" and opt["signature"].startswith("SignSGD(params")
    code, out, _ = run(capsys, "plot", "exponential", "--warmup", "4", "--steps", "12", "--set", "half_life=4",
                       "--lr", "0.01", "--csv")
    assert code == 0
    expected = [0.01 * (t / 4 if t < 4 else 0.5 ** ((t - 4) / 4)) for t in range(13)]
    assert read_csv(out)["exponential"] == pytest.approx(expected, rel=1e-12)


# -- plot -----------------------------------------------------------------------------------------
def test_plot_values_follow_the_closed_forms(capsys):
    w, t_total = 10, 110
    code, out, _ = run(capsys, "plot", "cosine", "linear", "constant_with_warmup", "inverse_sqrt",
                       "--warmup", str(w), "--steps", str(t_total), "--csv")
    assert code == 0
    values = read_csv(out)

    def warm(t, after):
        return t / w if t < w else after(t)

    steps = range(t_total + 1)
    assert values["cosine"] == pytest.approx([warm(t, lambda t: 0.5 * (1 + math.cos(math.pi * (t - w) / (t_total - w))))
                                              for t in steps], abs=1e-12)
    assert values["linear"] == pytest.approx([warm(t, lambda t: (t_total - t) / (t_total - w)) for t in steps], abs=1e-12)
    assert values["constant_with_warmup"] == pytest.approx([warm(t, lambda t: 1.0) for t in steps])
    assert values["inverse_sqrt"] == pytest.approx([warm(t, lambda t: math.sqrt(w / t)) for t in steps], abs=1e-12)


def test_plot_lr_scales_and_feeds_lr_init_where_needed(capsys):
    code, out, _ = run(capsys, "plot", "polynomial", "--warmup", "0", "--steps", "4", "--lr", "0.001",
                       "--set", "lr_end=0.0001", "--csv")
    assert code == 0
    # ((l0 - lr_end) * (1 - t / T) + lr_end), no warmup
    assert read_csv(out)["polynomial"] == pytest.approx([0.001 - 0.0009 * t / 4 for t in range(5)], rel=1e-9)


@pytest.mark.parametrize("spec", schedule_specs(), ids=lambda s: s.name)
def test_plot_every_installed_schedule_or_refuse_it_with_the_reason(spec, tmp_path, capsys):
    out_file = tmp_path / "curve.csv"
    settings = [f"{k}={v}" for k, v in needs(spec).items()]
    argv = ["plot", spec.name, "--warmup", "5", "--steps", "50", "--csv", "-o", str(out_file)]
    for s in settings:
        argv += ["--set", s]
    code, out, err = run(capsys, *argv)
    if "python" not in spec.frameworks:
        assert code == 1 and not out_file.exists()
        assert f"cannot plot schedule {spec.name!r}" in err and "no plain optimizer=None form" in err
        if set(spec.frameworks) == {"torch"}:  # reduce_lr_on_plateau, greedy, adafactor
            assert "not a function of the step alone" in err and "scheduler.step(metric)" in err
        return
    assert code == 0 and out.strip() == str(out_file), err
    oracle = {**needs(spec), **({"lr_init": 1.0} if spec.name == "polynomial" else {})}
    fn = get_scheduler(spec.name, None, 5, 50, oracle)  # polynomial: lr_init defaults to 1.0 without --lr
    assert read_csv(out_file.read_text())[spec.name] == [float(fn(t)) for t in range(51)]


def test_plot_png_draws_every_curve(tmp_path, capsys):
    png = tmp_path / "all.png"
    names = ["cosine", "linear", "wsd", "cosine_with_min_lr"]
    code, out, _ = run(capsys, "plot", *names, "--warmup", "10", "--steps", "100", "--set", "num_decay_steps=20",
                       "--set", "min_lr_rate=0.1", "-o", str(png))
    assert code == 0 and out.strip() == str(png)
    from matplotlib.image import imread

    image = imread(png)
    assert image.shape[0] > 100 and image.shape[1] > 100


def test_plot_without_matplotlib_says_what_to_install(monkeypatch, tmp_path, capsys):
    for module in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _, err = run(capsys, "plot", "cosine", "-o", str(tmp_path / "x.png"))
    assert code == 1 and "pip install 'hfopt-core[plot]'" in err and not (tmp_path / "x.png").exists()
    assert run(capsys, "plot", "cosine", "--csv", "--steps", "3", "--warmup", "1")[0] == 0  # CSV needs no matplotlib


def test_plot_needs_a_missing_argument_named(capsys):
    code, _, err = run(capsys, "plot", "wsd", "--csv")
    assert code == 1 and "num_decay_steps" in err and "--set key=value" in err


def test_parse_settings_literals_and_strings():
    assert parse_settings(["a=1", "b=0.5", "c=cosine", "d=None", "e=(1, 2)"]) == \
        {"a": 1, "b": 0.5, "c": "cosine", "d": None, "e": (1, 2)}


INVALID_CASES = [
    Case("hfopt plot", "steps", "0", ValueError, r"steps must be a positive integer, got 0",
         lambda: curves(["cosine"], steps=0)),
    Case("hfopt plot", "warmup", "-1", ValueError, r"warmup must be a non-negative integer, got -1",
         lambda: curves(["cosine"], warmup=-1)),
    Case("hfopt plot", "lr", "nan", ValueError, r"lr must be a positive number, got nan",
         lambda: curves(["cosine"], lr=float("nan"))),
    Case("hfopt plot", "names", "[]", ValueError, r"names must name at least one schedule, got \[\]",
         lambda: curves([])),
    Case("hfopt plot", "--set", "'foo=1'", ValueError, r"settings \['foo'\] are accepted by none",
         lambda: curves(["cosine"], settings={"foo": 1})),
    Case("hfopt plot", "--set", "'novalue'", ValueError, r"--set expects key=value.*'novalue'",
         lambda: parse_settings(["novalue"])),
    Case("hfopt plot", "names", "'greedy'", ValueError, r"cannot plot schedule 'greedy'.*metric",
         lambda: curves(["greedy"])),
    Case("hfopt plot", "names", "'cosin'", ValueError, r"Unknown schedule 'cosin'. Did you mean 'cosine'",
         lambda: curves(["cosin"])),
]


@parametrize(INVALID_CASES)
def test_invalid_plot_arguments(case):
    check_case(case)


@pytest.mark.parametrize("spec", get_manager().specs("optimizer") + get_manager().specs("accumulator"),
                         ids=lambda s: f"{s.kind}:{s.name}")
def test_show_describes_every_installed_optimizer_and_accumulator(spec, capsys):
    code, out, _ = run(capsys, "show", spec.name, "--kind", spec.kind, "--json")
    assert code == 0
    [info] = json.loads(out)
    factory = pkgutil.resolve_name(spec.factory)
    assert info["signature"] == f"{spec.factory.partition(':')[2]}{inspect.signature(factory)}"
    assert info["docstring"] == (inspect.getdoc(factory) or "")
    assert (info["distribution"], info["version"]) == tuple(spec.source.split("=="))
    assert "scheduler_specific_kwargs" not in info


def test_show_says_why_a_signature_is_unavailable(site, capsys):
    make_dist(site, "acme-needs-fw", "0.3", "acme_needs_fw", """
from hfopt_core.plugin import OptimizerSpec, hookimpl

@hookimpl
def hfopt_optimizers():
    yield OptimizerSpec(name="fancy", factory="acme_needs_fw_impl:Fancy", frameworks=("torch",))
""")
    (site / "acme_needs_fw_impl.py").write_text("import not_a_real_framework_xyz\n")
    code, out, _ = run(capsys, "show", "fancy", "--json")
    [info] = json.loads(out)
    assert code == 0 and info["signature"] is None
    assert "not_a_real_framework_xyz" in info["import_error"] and info["distribution"] == "acme-needs-fw"
    assert "signature     unavailable (ModuleNotFoundError" in run(capsys, "show", "fancy")[1]
    (site / "acme_needs_fw_impl.py").write_text("raise RuntimeError('half-installed')\n")
    sys.modules.pop("acme_needs_fw_impl", None)
    [info] = json.loads(run(capsys, "show", "fancy", "--json")[1])
    assert info["import_error"] == "RuntimeError: half-installed"


def test_show_lists_every_provider_of_a_contested_name_and_plot_names_the_conflict(site, capsys):
    make_dist(site, "acme-one", "1.0", "acme_one", schedule_plugin("half", "acme_one"))
    make_dist(site, "acme-two", "2.0", "acme_two", schedule_plugin("half", "acme_two"))
    infos = json.loads(run(capsys, "show", "half", "--json")[1])
    assert sorted((i["distribution"], i["version"]) for i in infos) == [("acme-one", "1.0"), ("acme-two", "2.0")]
    code, _, err = run(capsys, "plot", "half", "--csv")
    assert code == 1 and "acme-one==1.0" in err and "acme-two==2.0" in err and "HFOPT_PREFER" in err


def test_plot_to_a_missing_folder_is_a_one_line_error(tmp_path, capsys):
    code, _, err = run(capsys, "plot", "cosine", "-o", str(tmp_path / "missing" / "x.png"))
    assert code == 1 and err.startswith("hfopt plot: error: ") and "No such file or directory" in err


def test_plot_imports_no_framework_and_matplotlib_only_for_a_png(tmp_path):
    import subprocess

    code = ("import sys, contextlib, io\n"
            "from hfopt_core.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['plot', 'cosine', 'linear', '--csv']) == 0\n"
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'matplotlib') if m in sys.modules))\n"
            f"assert main(['plot', 'cosine', '-o', {str(tmp_path / 'c.png')!r}]) == 0\n"
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'matplotlib') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.splitlines() == ["[]", str(tmp_path / "c.png"), "['matplotlib']"]


# -- specs, bounded work, huge numbers, standard output (issues 15 and 16) -----------------------------
PHASES = [{"name": "constant_with_warmup", "num_warmup_steps": 4, "steps": 4},
          {"name": "cosine", "num_warmup_steps": 0}]


def test_show_and_plot_take_a_spec_as_json_or_a_file(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text("- name: constant_with_warmup\n  num_warmup_steps: 4\n  steps: 4\n"
                                     "- name: cosine\n  num_warmup_steps: 0\n")
    (tmp_path / "s.json").write_text(json.dumps(PHASES))
    code, out, _ = run(capsys, "show", json.dumps(PHASES), "--json")
    info = json.loads(out)
    assert code == 0 and info["spec"] == PHASES[:1] + [{"name": "cosine", "steps": None, "num_warmup_steps": 0}]
    assert [s["name"] for s in info["schedules"]] == ["constant_with_warmup", "cosine"]
    code, text, _ = run(capsys, "show", f"@{tmp_path / 's.yaml'}")
    assert code == 0 and "phase 0: constant_with_warmup (steps 0-3)" in text and "phase 1: cosine (the rest" in text
    values = {}
    for source in (json.dumps(PHASES), f"@{tmp_path / 's.json'}", f"@{tmp_path / 's.yaml'}"):
        code, out, err = run(capsys, "plot", source, "--steps", "12", "--csv")
        assert code == 0, err
        values[source] = read_csv(out)["constant_with_warmup + cosine"]
    expected = [t / 4 if t < 4 else 0.5 * (1 + math.cos(math.pi * (t - 4) / 8)) for t in range(13)]
    for column in values.values():
        assert column == pytest.approx(expected, abs=1e-12)
    code, out, _ = run(capsys, "plot", '{"name": "wsd", "num_decay_steps": "50%"}', "--warmup", "2",
                       "--steps", "10", "--csv")
    assert code == 0 and read_csv(out)["wsd"][2:5] == [1.0, 1.0, 1.0]  # stable from 2 to 4, decay from 5


def test_plot_samples_a_long_run_instead_of_computing_every_step(capsys):
    code, out, err = run(capsys, "plot", "cosine", "--warmup", "1000", "--steps", "1000000000", "--csv")
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))[1:]
    steps = [int(r[0]) for r in rows]
    assert len(rows) == 2001 and steps[0] == 0 and steps[-1] == 1_000_000_000 and steps == sorted(set(steps))
    total, w = 1_000_000_000, 1000
    for step, value in zip(steps[1::400], [float(r[1]) for r in rows[1::400]]):
        want = step / w if step < w else 0.5 * (1 + math.cos(math.pi * (step - w) / (total - w)))
        assert value == pytest.approx(want, abs=1e-9)


@pytest.mark.parametrize(("argv", "message"), [
    (["--steps", "9" * 400], "argument --steps: --steps must be between 0 and 9007199254740992, got 999"),
    (["--warmup", "9" * 400], "argument --warmup: --warmup must be between 0 and 9007199254740992"),
    (["--steps", "1e3"], "argument --steps: --steps must be an integer, got '1e3'"),
    (["--lr", "1e400"], "argument --lr: --lr must be a positive finite number, got 1e400"),
])
def test_huge_numbers_are_a_cli_error_naming_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plot", "polynomial", *argv, "--csv"])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(("setting", "message"), [
    ("power=" + "9" * 400, "--set power: 99999999999999999999... is too large"),
    ("power=1e999", "--set power: must be a finite number, got inf"),
])
def test_huge_set_values_are_an_error_naming_the_key(setting, message, capsys):
    code, out, err = run(capsys, "plot", "polynomial", "--set", setting, "--csv")
    assert code == 1 and out == "" and f"hfopt plot: error: {message}" in err and "Traceback" not in err


def test_plot_dash_output_is_standard_output_for_a_png_too(tmp_path):
    import subprocess

    out = subprocess.run([sys.executable, "-m", "hfopt_core.cli", "plot", "cosine", "--steps", "50", "--warmup", "5",
                          "-o", "-"], capture_output=True, cwd=tmp_path, check=True)
    assert out.stdout[:8] == b"\x89PNG\r\n\x1a\n" and not (tmp_path / "-").exists()
    csv_out = subprocess.run([sys.executable, "-m", "hfopt_core.cli", "plot", "cosine", "--steps", "5", "--warmup",
                              "1", "--csv", "-o", "-"], capture_output=True, cwd=tmp_path, check=True, text=True)
    assert csv_out.stdout.startswith("step,cosine\n0,0.0\n") and not (tmp_path / "-").exists()


def test_show_lists_exactly_what_get_scheduler_accepts():
    from hfopt_core._show import describe

    for spec in get_manager().specs("schedule"):
        if "python" not in spec.frameworks:
            continue
        info = describe(spec)
        listed = info["scheduler_specific_kwargs"]
        assert isinstance(listed, list), spec.name
        for key in listed:  # accepted: never the "unknown key" TypeError (the value may still be refused)
            try:
                get_scheduler(spec.name, None, 2, 10, {**spec.example, key: None} if info["accepts_kwargs"] else None)
            except TypeError as exc:
                assert "unknown key" not in str(exc), (spec.name, key)
            except ValueError:
                pass
        if info["accepts_kwargs"]:
            with pytest.raises(TypeError, match="unknown key"):
                get_scheduler(spec.name, None, 2, 10, {"not_an_argument": 1})


def test_the_schedules_page_table_is_generated_from_the_declarations():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "docs" / "_hooks.py"
    spec_ = importlib.util.spec_from_file_location("hfopt_docs_hooks_table", path)
    hooks = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(hooks)
    table = hooks._table_markdown()
    page = (path.parent / "schedules.md").read_text(encoding="utf-8")
    assert hooks.TABLE_MARKER in page and "| --- |" not in page.split(hooks.TABLE_MARKER)[0][-200:]
    for spec in get_manager().specs("schedule"):
        factory = pkgutil.resolve_name(spec.factory)
        row = next(line for line in table.splitlines() if line.startswith(f"| `{spec.name}`"))
        assert spec.source.split("==")[0] in row and f"{factory.__name__}{inspect.signature(factory)}" in row
        assert spec.summary in row
