"""``hfopt simulate``: the lr of every group at every update, the update count, the warnings, the exit codes."""
from __future__ import annotations

import math

import pytest

from hfopt_core._simulate import count_updates, sample, simulate
from hfopt_core.cli import main


def cosine(step, warmup, total):
    """transformers' cosine-with-warmup multiplier, closed form."""
    if step < warmup:
        return step / warmup
    return max(0.0, 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup))))


def table(out: str) -> dict[int, list[float]]:
    """``{update: [lr of each group]}`` read back from the printed table."""
    rows = {}
    for line in out.splitlines():
        cells = line.split()
        if cells and cells[0].isdigit():
            rows[int(cells[0])] = [float(c) for c in cells[1:]]
    return rows


def test_every_group_at_every_update(capsys):
    assert main(["simulate", "cosine", "--warmup", "2", "--steps", "8", "--group-lr", "0.1,0.01"]) == 0
    out = capsys.readouterr().out
    rows = table(out)
    assert sorted(rows) == list(range(8))
    for update, lrs in rows.items():
        assert lrs == pytest.approx([0.1 * cosine(update, 2, 8), 0.01 * cosine(update, 2, 8)], rel=1e-5, abs=1e-12)
    assert "group 0 (lr 0.1)" in out and "group 1 (lr 0.01)" in out


def test_a_long_run_is_sampled_with_its_first_last_and_warmup_updates(capsys):
    assert main(["simulate", "linear", "--warmup", "100", "--steps", "10000", "--rows", "10"]) == 0
    out = capsys.readouterr().out
    rows = table(out)
    assert {0, 99, 100, 9999} <= set(rows) and len(rows) <= 14
    assert f"({len(rows)} of 10000 updates shown)" in out
    for update, (lr,) in rows.items():  # linear: warmup, then down to 0 at num_training_steps
        expected = update / 100 if update < 100 else (10000 - update) / 9900
        assert lr == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(("epochs", "batches", "accum", "updates"), [
    (3, 1000, 4, 750), (1, 10, 4, 3), (2, 10, 4, 6), (1.5, 10, 4, 5), (1, 3, 8, 1), (2, 7, 1, 14)])
def test_updates_from_epochs_batches_and_accumulation(epochs, batches, accum, updates):
    # a last, shorter accumulation still updates: ceil(epochs * ceil(batches / accum))
    assert count_updates(epochs, batches, accum) == updates


@pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated")
def test_the_update_count_is_lightnings():
    pl = pytest.importorskip("lightning.pytorch")
    import torch

    class Tiny(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(2, 1)

        def training_step(self, batch, batch_idx):
            return self.net(batch[0]).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(10, 2)), batch_size=1)
    trainer = pl.Trainer(max_epochs=2, accumulate_grad_batches=4, accelerator="cpu", devices=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Tiny(), data)
    assert trainer.global_step == count_updates(2, 10, 4) == trainer.estimated_stepping_batches


def test_epochs_batches_and_accumulation_on_the_command_line(capsys):
    assert main(["simulate", "cosine", "--warmup", "2", "--epochs", "2", "--batches", "10", "--grad-accum", "4"]) == 0
    out = capsys.readouterr().out
    assert "6 updates = ceil(2 epochs x ceil(10 batches / 4 accumulated))" in out
    rows = table(out)
    assert sorted(rows) == list(range(6))
    assert [lr for (lr,) in rows.values()] == pytest.approx([cosine(s, 2, 6) for s in range(6)], rel=1e-5, abs=1e-12)


def test_a_yaml_file_of_phases(tmp_path, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text("- {name: constant_with_warmup, num_warmup_steps: 2, steps: 4}\n- {name: cosine, num_warmup_steps: 0}\n")
    assert main(["simulate", f"@{spec}", "--steps", "8", "--lr", "0.5"]) == 0
    rows = table(capsys.readouterr().out)
    expected = [0.0, 0.5, 1.0, 1.0] + [cosine(k, 0, 4) for k in range(4)]
    assert [lr for (lr,) in rows.values()] == pytest.approx([0.5 * m for m in expected], rel=1e-5, abs=1e-12)


@pytest.mark.parametrize(("argv", "message"), [
    (["cosine", "--warmup", "2", "--steps", "8"], "lr is 0 at the first update for group(s) 0"),
    (["linear", "--warmup", "200", "--steps", "100"], "num_warmup_steps=200 is not shorter than the run (100 updates)"),
    (["cosine_warmup_with_min_lr", "--warmup", "10%", "--steps", "100", "--set", "min_lr_rate=0.1"],
     None),  # warmup "10%" of 100 = 10 steps, starts at 0.1: nothing to report
    (['[{"name": "constant_with_warmup", "num_warmup_steps": 5, "steps": 20}, '
      '{"name": "cosine", "num_warmup_steps": 0, "steps": "50%"}]', "--steps", "100"],
     "the phases cover 70 of 100 updates: the last phase (cosine) runs on past its own length for the last 30"),
    (['[{"name": "linear", "num_warmup_steps": 30, "steps": 20}, {"name": "constant"}]', "--steps", "100"],
     "phase 0 (linear): num_warmup_steps=30 is not shorter than its 20 steps"),
    (["constant", "--warmup", "10", "--steps", "20"], "constant takes no num_warmup_steps: --warmup is unused"),
    (['{"name": "constant", "num_warmup_steps": 10}', "--steps", "20"],
     "constant takes no num_warmup_steps: num_warmup_steps=10 is unused"),
    (['[{"name": "constant", "num_warmup_steps": 3, "steps": 5}, {"name": "linear", "num_warmup_steps": 0}]',
      "--steps", "20"], "phase 0 (constant) takes no num_warmup_steps: num_warmup_steps=3 is unused"),
    (["constant", "--steps", "20", "--set", "foo=1"], "takes no scheduler_specific_kwargs; ignoring ['foo']"),
    (["cosine_with_min_lr", "--warmup", "1", "--steps", "20", "--set", "min_lr=0.01", "--lr", "0.001"],
     "min_lr=0.01 is above the optimizer's lr (0.001"),
    (["cosine_with_min_lr", "--warmup", "1", "--steps", "20", "--set", "min_lr=0.01", "--set", "per_group=True",
      "--group-lr", "0.1,0.001"], "min_lr=0.01 is above the lr of group(s) 1 (0.001)"),
    (['{"name": "cosine_warmup_with_min_lr", "num_warmup_steps": 2, "min_lr_rate": 2}', "--steps", "20"],
     "min_lr_rate=2 puts the floor above the peak"),
])
def test_classic_mistakes_are_warned_about(capsys, argv, message):
    assert main(["simulate", *argv]) == 0
    err = capsys.readouterr().err
    if message is None:
        assert err == ""
    else:
        assert err.startswith("warning: ") and message in err


def test_a_warmup_phase_handing_over_at_its_peak_is_not_a_mistake(capsys):
    # the issue's own example: a 100-step warmup phase, then a cosine from the peak
    spec = ('[{"name": "constant_with_warmup", "num_warmup_steps": 100, "steps": 100}, '
            '{"name": "cosine", "num_warmup_steps": 0}]')
    assert main(["simulate", spec, "--steps", "1000"]) == 0
    err = capsys.readouterr().err
    assert "not shorter" not in err and "lr is 0 at the first update" in err
    # the same warmup as the last phase never reaches its peak: that one is reported
    assert main(["simulate", '[{"name": "constant", "steps": 900}, '
                             '{"name": "constant_with_warmup", "num_warmup_steps": 100}]', "--steps", "1000"]) == 0
    assert "phase 1 (constant_with_warmup): num_warmup_steps=100 is not shorter than its 100 steps" in capsys.readouterr().err


def test_a_floor_above_the_peak_is_what_the_lrs_show():
    # the warning's claim, checked on the simulated lrs: group 1's lr rises to the floor
    run = simulate("cosine_with_min_lr", 20, warmup=1, settings={"min_lr": 0.01, "per_group": True},
                   group_lrs=(0.1, 0.001))
    assert run.lrs[1][1] == pytest.approx(0.001) and run.lrs[-1][1] > 0.009 and run.lrs[-1][0] < 0.02


@pytest.mark.parametrize(("argv", "message"), [
    (["cosinus", "--steps", "8"], "cosinus"),
    (["cosine", "--warmup", "2", "--steps", "8", "--set", "foo=1"], "unknown key(s) 'foo'"),
    (["cosine", "--steps", "8", "--epochs", "1", "--batches", "4"], "either as --steps or as --epochs"),
    (["cosine", "--epochs", "1"], "--epochs and --batches go together"),
    (["cosine", "--warmup", "2", "--steps", "8", "--group-lr", "0.1,x"], "--group-lr must be comma-separated"),
    (["reduce_lr_on_plateau", "--steps", "8"], "follows a metric"),
    (['{"name": "cosine"', "--steps", "8"], "not valid JSON"),
    (["cosine", "--steps", "8"], "requires `num_warmup_steps`"),
    (['[{"name": "constant", "steps": 20}]', "--steps", "10"], "more than num_training_steps (10)"),
])
def test_errors_exit_1_with_a_message(capsys, argv, message):
    assert main(["simulate", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hfopt simulate: error: ") and message in err


def test_png_output(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "lrs.png"
    assert main(["simulate", "cosine", "--warmup", "2", "--steps", "50", "--group-lr", "1e-3,1e-4", "-o", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(path) in capsys.readouterr().out


def test_sample_keeps_marks_and_ends():
    assert sample(5, 20) == [0, 1, 2, 3, 4]
    picked = sample(1000, 5, marks=(7, 2000))
    assert picked[0] == 0 and picked[-1] == 999 and 7 in picked and len(picked) == 6


def test_a_very_long_run_is_read_at_a_bounded_number_of_updates():
    from hfopt_core._plot import MAX_POINTS

    run = simulate("linear", 10**9, warmup=1000)
    assert len(run.steps) <= MAX_POINTS + 4 and run.steps[0] == 0 and run.steps[-1] == 10**9 - 1
    assert {999, 1000} <= set(run.steps)  # the warmup end is read
    for step, (lr,) in zip(run.steps, run.lrs):
        expected = step / 1000 if step < 1000 else (10**9 - step) / (10**9 - 1000)
        assert lr == pytest.approx(expected, rel=1e-12, abs=1e-15)


def get_halving_every_two(optimizer, last_epoch=-1):
    """A third-party schedule that is not a LambdaLR: torch's StepLR."""
    import torch

    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5, last_epoch=last_epoch)


class SteppedPlugin:
    from hfopt_core.plugin import hookimpl as _hookimpl

    @_hookimpl
    def hfopt_schedules(self):
        from hfopt_core.plugin import ScheduleSpec

        yield ScheduleSpec(name="halving_every_two", factory=f"{__name__}:get_halving_every_two", frameworks=("torch",))


def test_a_scheduler_that_is_not_a_lambdalr_is_stepped(fresh_manager, monkeypatch, capsys):
    import hfopt_core._simulate as simulation_module

    fresh_manager.register(SteppedPlugin(), name="stepped")
    run = simulate("halving_every_two", 6, group_lrs=(0.8, 0.08))
    assert [lr for row in run.lrs for lr in row] == pytest.approx(
        [0.8, 0.08, 0.8, 0.08, 0.4, 0.04, 0.4, 0.04, 0.2, 0.02, 0.2, 0.02])
    monkeypatch.setattr(simulation_module, "MAX_STEPPED", 10)
    assert main(["simulate", "halving_every_two", "--steps", "11"]) == 1
    assert "builds a StepLR, which is stepped update by update: simulate at most 10 updates, got 11" in capsys.readouterr().err


def test_without_torch_the_plain_form_gives_the_same_lrs(monkeypatch):
    import hfopt_core._simulate as simulation_module

    with_torch = simulate("cosine", 50, warmup=5, group_lrs=(0.1, 0.01))
    monkeypatch.setattr(simulation_module, "torch_available", lambda: False)
    plain = simulate("cosine", 50, warmup=5, group_lrs=(0.1, 0.01))
    assert plain.steps == with_torch.steps
    assert [lr for row in plain.lrs for lr in row] == pytest.approx([lr for row in with_torch.lrs for lr in row], rel=1e-12)


HUGE = "9" * 5000  # past Python's 4300-digit int conversion limit


@pytest.mark.parametrize(("argv", "option"), [
    (["simulate", "cosine", "--steps", "100", "--warmup", HUGE], "--warmup"),
    (["simulate", "cosine", "--steps", HUGE], "--steps"),
    (["simulate", "cosine", "--epochs", HUGE, "--batches", "3"], "--epochs"),
    (["simulate", "cosine", "--epochs", "1", "--batches", HUGE], "--batches"),
    (["simulate", "cosine", "--steps", "10", "--rows", "0"], "--rows"),
    (["simulate", "cosine", "--steps", "10", "--lr", "nan"], "--lr"),
    (["plot", "cosine", "--steps", "100", "--set", f"num_cycles={HUGE}", "--csv"], "--set num_cycles"),
    (["plot", "cosine", "--lr", HUGE, "--csv"], "--lr"),
])
def test_huge_or_bad_numbers_are_cli_errors_naming_the_option_without_echoing_them(capsys, argv, option):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own exit for a bad option value
        code = exit_.code
    err = capsys.readouterr().err
    assert code in (1, 2) and option in err and "Traceback" not in err
    assert HUGE not in err and len(err) < 600
