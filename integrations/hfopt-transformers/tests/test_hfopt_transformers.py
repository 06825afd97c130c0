"""hfopt-transformers end to end: registry names from the command line into Trainer, trained and resumed.

Third-party plugins providing ``onecycle`` (a schedule) and ``lion`` (an optimizer) are installed
as throwaway distributions (``site`` fixture); HfArgumentParser reads the command-line strings,
a tiny BERT trains 8 steps saving at step 4, and a fresh trainer resumes from there.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

pytest.importorskip("accelerate")
transformers = pytest.importorskip("transformers")
pytest.importorskip("hfopt_transformers")

from transformers import HfArgumentParser, TrainerCallback  # noqa: E402
from transformers.trainer_utils import SchedulerType as HFSchedulerType  # noqa: E402
from transformers.training_args import OptimizerNames  # noqa: E402

from conftest import site  # noqa: E402,F401 - the fixture, also when this folder runs alone
from fakedists import make_dist  # noqa: E402
from hfopt_transformers import HfoptTrainer, HfoptTrainingArguments, parse_optim_args  # noqa: E402
from tiny_setup import Rows, step_logs, tiny_model  # noqa: E402

ONECYCLE_PLUGIN = """
from hfopt_core.plugin import ScheduleSpec, OptimizerSpec, hookimpl

@hookimpl
def hfopt_schedules():
    yield ScheduleSpec(name="onecycle", factory="thirdparty_impl:get_onecycle_schedule",
                       frameworks=("python", "torch"))

@hookimpl
def hfopt_optimizers():
    yield OptimizerSpec(name="lion", factory="thirdparty_impl:Lion", frameworks=("torch",))
"""

IMPLEMENTATION = '''
import math

from hfopt_core.plugin import StepFunction, as_scheduler, check_steps


def onecycle(step, ops, *, num_warmup_steps, num_training_steps, floor):
    """Linear warmup, then a cosine from 1 down to floor."""
    warm = ops.to_float(step) / float(max(1, num_warmup_steps))
    progress = ops.to_float(step - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
    return ops.where(step < num_warmup_steps, warm,
                     floor + (1.0 - floor) * 0.5 * (1.0 + ops.cos(math.pi * ops.minimum(progress, 1.0))))


def get_onecycle_schedule(optimizer, num_warmup_steps, num_training_steps, floor=0.04, last_epoch=-1):
    num_warmup_steps, num_training_steps = check_steps(num_warmup_steps=num_warmup_steps,
                                                       num_training_steps=num_training_steps)
    return as_scheduler(optimizer, StepFunction(onecycle, num_warmup_steps=num_warmup_steps,
                                                num_training_steps=num_training_steps, floor=float(floor)),
                        last_epoch)


def Lion(params, lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.0):
    import torch

    class Lion(torch.optim.Optimizer):
        def __init__(self, params, **defaults):
            super().__init__(params, defaults)

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    m = self.state[p].setdefault("exp_avg", torch.zeros_like(p))
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                    p.add_(torch.sign(m * group["beta1"] + p.grad * (1 - group["beta1"])), alpha=-group["lr"])
                    m.mul_(group["beta2"]).add_(p.grad, alpha=1 - group["beta2"])

    return Lion(params, lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay)
'''


@pytest.fixture
def thirdparty(site):
    """The ``thirdparty-plugins`` distribution (``onecycle`` schedule, ``lion`` optimizer), installed."""
    (site / "thirdparty_impl.py").write_text(IMPLEMENTATION)
    make_dist(site, "thirdparty-plugins", "1.0", "thirdparty_plugin", ONECYCLE_PLUGIN)
    return site


def onecycle_expected(step, warmup, total, floor):
    """The onecycle multiplier, from its closed form."""
    if step < warmup:
        return step / warmup
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min((step - warmup) / (total - warmup), 1.0)))


def parse(output_dir, *extra):
    """``HfoptTrainingArguments`` from a command line, as a training script reads it."""
    common = ["--output_dir", str(output_dir), "--per_device_train_batch_size", "4", "--max_steps", "8",
              "--logging_steps", "1", "--report_to", "none", "--use_cpu", "--seed", "0",
              "--disable_tqdm", "true", "--dataloader_num_workers", "0", "--save_only_model", "false"]
    (args,) = HfArgumentParser((HfoptTrainingArguments,)).parse_args_into_dataclasses(common + list(extra))
    return args


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


CLI = ["--lr_scheduler_type", "onecycle", "--optim", "lion", "--optim_args", "beta1=0.95, beta2=0.98",
       "--learning_rate", "0.01", "--weight_decay", "0.1", "--warmup_ratio", "0.3",
       "--lr_scheduler_kwargs", '{"floor": 0.1}']


def test_command_line_names_of_third_party_plugins_train_and_resume_exactly(tmp_path, thirdparty):
    args = parse(tmp_path / "full", *CLI, "--save_strategy", "steps", "--save_steps", "4")
    assert (args.lr_scheduler_type, args.optim) == ("onecycle", "lion")
    assert json.loads(args.to_json_string())["optim"] == "lion"
    trainer = HfoptTrainer(tiny_model(), args, train_dataset=Rows())
    trainer.train()
    full_logs, full_weights = step_logs(trainer), weights(trainer.model)

    # the optimizer: the plugin's Lion, optim_args read as numbers, transformers' weight-decay groups
    opt = trainer.optimizer.optimizer if hasattr(trainer.optimizer, "optimizer") else trainer.optimizer
    assert type(opt).__module__ == "thirdparty_impl"
    assert (opt.defaults["beta1"], opt.defaults["beta2"], opt.defaults["lr"]) == (0.95, 0.98, 0.01)
    decay = set(trainer.get_decay_parameter_names(trainer.model))
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert {names[id(p)] for p in opt.param_groups[0]["params"]} == decay
    assert {names[id(p)] for p in opt.param_groups[1]["params"]} == set(names.values()) - decay
    assert any("bias" in n or "LayerNorm" in n for n in set(names.values()) - decay)

    # the schedule: onecycle with transformers' warmup (ceil(0.3 * 8) = 3) and lr_scheduler_kwargs
    warmup = math.ceil(0.3 * 8)
    expected = [0.01 * onecycle_expected(s, warmup, 8, 0.1) for s in range(8)]
    assert [lr for _, _, lr in full_logs] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert len(full_logs) == 8 and all(math.isfinite(loss) for _, loss, _ in full_logs)

    resumed_args = parse(tmp_path / "resumed", *CLI, "--save_strategy", "no", "--save_steps", "4")
    resumed = HfoptTrainer(tiny_model(), resumed_args, train_dataset=Rows())
    resumed.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-4"))
    assert step_logs(resumed) == full_logs  # steps 1-4 restored from the checkpoint's history, 5-8 rerun
    resumed_weights = weights(resumed.model)
    for key in full_weights:
        torch.testing.assert_close(resumed_weights[key], full_weights[key], rtol=0, atol=0, msg=key)


def test_transformers_names_keep_their_meaning(tmp_path):
    args = parse(tmp_path, "--lr_scheduler_type", "cosine", "--optim", "adamw_torch", "--learning_rate", "0.01",
                 "--warmup_steps", "2", "--adam_beta1", "0.8", "--weight_decay", "0.1")
    assert args.lr_scheduler_type is HFSchedulerType.COSINE and args.optim is OptimizerNames.ADAMW_TORCH
    assert args.to_dict()["lr_scheduler_type"] == "cosine" and args.to_dict()["optim"] == "adamw_torch"
    trainer = HfoptTrainer(tiny_model(), args, train_dataset=Rows())
    trainer.create_optimizer_and_scheduler(num_training_steps=8)
    opt = trainer.optimizer
    assert type(opt) is torch.optim.AdamW and opt.defaults["betas"] == (0.8, 0.999)
    # same numbers as transformers' own cosine schedule
    theirs = transformers.get_cosine_schedule_with_warmup(opt, 2, 8).lr_lambdas[0]
    ours = trainer.lr_scheduler.lr_lambdas[0]
    assert [ours(s) for s in range(9)] == pytest.approx([theirs(s) for s in range(9)], rel=1e-15)


def test_registry_arguments_round_trip_through_to_dict(tmp_path, thirdparty):
    args = parse(tmp_path, *CLI)
    data = json.loads(args.to_json_string())
    assert (data["lr_scheduler_type"], data["optim"], data["optim_args"]) == ("onecycle", "lion", "beta1=0.95, beta2=0.98")
    # to_dict hides tokens as "<NAME>" placeholders; everything else rebuilds the arguments
    again = HfoptTrainingArguments(**{k: v for k, v in args.to_dict().items() if not k.endswith("_token")})
    assert (again.lr_scheduler_type, again.optim, again.lr_scheduler_kwargs) == ("onecycle", "lion", {"floor": 0.1})


@pytest.mark.filterwarnings(r"ignore:Detected call of `lr_scheduler.step\(\)` before:UserWarning")
def test_a_json_spec_names_a_schedule_with_its_arguments(tmp_path):
    spec = '{"name": "cosine_with_min_lr", "min_lr_rate": 0.1}'
    args = parse(tmp_path, "--lr_scheduler_type", spec, "--learning_rate", "0.01", "--warmup_steps", "2")
    assert args.lr_scheduler_type == spec and args.lr_scheduler_spec == json.loads(spec)
    trainer = HfoptTrainer(tiny_model(), args, train_dataset=Rows())
    trainer.create_optimizer_and_scheduler(num_training_steps=8)
    theirs = transformers.get_cosine_with_min_lr_schedule_with_warmup(
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01), 2, 8, min_lr_rate=0.1).lr_lambdas[0]
    lrs = []
    for _ in range(8):
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.lr_scheduler.step()
    assert lrs == pytest.approx([0.01 * theirs(s) for s in range(8)], rel=1e-12, abs=1e-15)


@pytest.mark.filterwarnings(r"ignore:Detected call of `lr_scheduler.step\(\)` before:UserWarning")
def test_a_yaml_file_of_phases_is_kept_in_the_arguments_and_built(tmp_path):
    spec_file = tmp_path / "schedule.yaml"
    spec_file.write_text("- {name: constant_with_warmup, num_warmup_steps: 2, steps: '50%'}\n"
                         "- {name: cosine, num_warmup_steps: 0}\n")
    args = parse(tmp_path / "out", "--lr_scheduler_type", f"@{spec_file}", "--learning_rate", "0.01")
    assert json.loads(args.lr_scheduler_type) == [
        {"name": "constant_with_warmup", "num_warmup_steps": 2, "steps": "50%"}, {"name": "cosine", "num_warmup_steps": 0}]
    spec_file.unlink()  # read once, when the arguments were built
    trainer = HfoptTrainer(tiny_model(), args, train_dataset=Rows())
    trainer.create_optimizer_and_scheduler(num_training_steps=8)
    lrs = []
    for _ in range(8):
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.lr_scheduler.step()
    # 4 steps of warmup-then-constant, then a cosine over the remaining 4 (its own local steps)
    expected = [0.0, 0.5, 1.0, 1.0] + [0.5 * (1 + math.cos(math.pi * k / 4)) for k in range(4)]
    assert lrs == pytest.approx([0.01 * m for m in expected], rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("flag", "value", "match"), [
    ("--lr_scheduler_type", "onecylce", "lr_scheduler_type must be .*onecycle.*got 'onecylce'"),
    ("--optim", "lionn", "optim must be .*lion.*got 'lionn'"),
    ("--lr_scheduler_type", '{"name": "cosine"', "lr_scheduler_type must be .*not valid JSON"),
    ("--lr_scheduler_type", '[{"steps": 2}]', "lr_scheduler_type must be .* has a 'name' string"),
])
def test_unknown_names_are_refused_naming_the_argument(tmp_path, thirdparty, flag, value, match):
    with pytest.raises(ValueError, match=match):
        parse(tmp_path, flag, value)


def test_optim_args_are_split_as_transformers_splits_them():
    assert parse_optim_args("beta1=0.9, eps=1e-8,amsgrad=True,mode=fast") == {
        "beta1": 0.9, "eps": 1e-8, "amsgrad": True, "mode": "fast"}
    assert parse_optim_args(None) == {} and parse_optim_args("") == {}
    with pytest.raises(ValueError, match="optim_args .*'beta1'"):
        parse_optim_args("beta1,beta2=0.9")


def test_set_optimizer_and_set_lr_scheduler_take_registry_names(tmp_path, thirdparty):
    args = HfoptTrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    args.set_optimizer("lion", learning_rate=0.02, weight_decay=0.1, args="beta1=0.8")
    args.set_lr_scheduler({"name": "onecycle", "floor": 0.2}, max_steps=8, warmup_steps=2)
    assert (args.optim, args.learning_rate, args.weight_decay, args.optim_args) == ("lion", 0.02, 0.1, "beta1=0.8")
    assert (args.lr_scheduler_type, args.max_steps, args.warmup_steps) == ({"name": "onecycle", "floor": 0.2}, 8, 2)
    trainer = HfoptTrainer(tiny_model(), args, train_dataset=Rows())
    trainer.create_optimizer_and_scheduler(num_training_steps=8)
    assert trainer.optimizer.defaults["beta1"] == 0.8
    lrs = []
    for _ in range(8):
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert lrs == pytest.approx([0.02 * onecycle_expected(s, 2, 8, 0.2) for s in range(8)], rel=1e-12, abs=1e-15)
    # transformers' own names still go through transformers' enums
    args.set_optimizer("adamw_torch").set_lr_scheduler("cosine")
    assert args.optim is OptimizerNames.ADAMW_TORCH and args.lr_scheduler_type is HFSchedulerType.COSINE
    with pytest.raises(ValueError, match="optim must be .*got 'lino'"):
        args.set_optimizer("lino")


class UpdateLrs(TrainerCallback):
    """The lr each optimizer update uses (read when the update's step begins)."""

    def __init__(self):
        self.seen = []

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        self.seen.append((state.global_step, optimizer.param_groups[0]["lr"]))


# mode "max" on the evaluation loss: every evaluation that lowers the loss counts as a plateau,
# so the lr is cut within this short run
WARMUP_THEN_PLATEAU = ('[{"name": "constant_with_warmup", "num_warmup_steps": 2, "steps": 3}, '
                       '{"name": "reduce_lr_on_plateau", "patience": 0, "factor": 0.5, "mode": "max"}]')


@pytest.mark.filterwarnings("ignore:Be aware that when using `resume_from_checkpoint`")
def test_warmup_then_plateau_steps_per_update_then_per_evaluation_and_resumes(tmp_path):
    def run(output_dir, save, resume=None):
        args = parse(output_dir, "--lr_scheduler_type", WARMUP_THEN_PLATEAU, "--learning_rate", "0.01",
                     "--eval_strategy", "steps", "--eval_steps", "2", "--save_strategy", save, "--save_steps", "6")
        assert args.metric_for_best_model == "loss"  # as transformers sets it for reduce_lr_on_plateau
        log = UpdateLrs()
        trainer = HfoptTrainer(tiny_model(), args, train_dataset=Rows(), eval_dataset=Rows(n=8, seed=1), callbacks=[log])
        trainer.train(resume_from_checkpoint=resume)
        return trainer, log.seen

    trainer, seen = run(tmp_path / "full", "steps")
    lrs = [lr for _, lr in seen]
    # closed-form phase: 2 warmup updates then 1 at the peak; the evaluation at step 2 changes nothing
    assert lrs[:3] == pytest.approx([0.0, 0.005, 0.01])
    # then the plateau phase from the initial lr, stepped with eval_loss after each evaluation, exactly
    # as torch's ReduceLROnPlateau steps with the same losses
    evals = {e["step"]: e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e}
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    oracle = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, factor=0.5)
    expected = []
    for step in range(3, 8):  # updates 3..7 run at global_step 3..7
        expected.append(opt.param_groups[0]["lr"])
        if step + 1 in evals:
            oracle.step(evals[step + 1])
    assert lrs[3:] == pytest.approx(expected, rel=1e-12)
    assert min(expected) < 0.01  # the plateau phase did cut the lr

    resumed, resumed_seen = run(tmp_path / "resumed", "no", resume=str(tmp_path / "full" / "checkpoint-6"))
    assert resumed_seen == seen[6:]
    for (key, a), b in zip(resumed.model.state_dict().items(), trainer.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=key)


def test_a_metric_spec_without_evaluations_is_refused(tmp_path):
    with pytest.raises(ValueError, match="follows a metric.*set eval_strategy"):
        parse(tmp_path, "--lr_scheduler_type", WARMUP_THEN_PLATEAU)


def test_a_json_config_file_may_hold_the_spec_as_a_mapping(tmp_path):
    config = tmp_path / "args.json"
    config.write_text(json.dumps({"output_dir": str(tmp_path), "report_to": [], "use_cpu": True, "learning_rate": 0.01,
                                  "lr_scheduler_type": {"name": "cosine", "num_warmup_steps": 2, "num_cycles": 0.25}}))
    (args,) = HfArgumentParser((HfoptTrainingArguments,)).parse_json_file(str(config))
    assert json.loads(args.to_json_string())["lr_scheduler_type"] == {"name": "cosine", "num_warmup_steps": 2,
                                                                      "num_cycles": 0.25}
    trainer = HfoptTrainer(tiny_model(), args, train_dataset=Rows())
    trainer.create_optimizer_and_scheduler(num_training_steps=8)  # the spec's own warmup: 2 steps
    fn = trainer.lr_scheduler.lr_lambdas[0]
    theirs = transformers.get_cosine_schedule_with_warmup(
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01), 2, 8, num_cycles=0.25).lr_lambdas[0]
    assert [fn(s) for s in range(9)] == pytest.approx([theirs(s) for s in range(9)], rel=1e-12, abs=1e-15)


README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_runs():
    from hfopt_core.testing import run_readme_examples

    run_readme_examples(README)
