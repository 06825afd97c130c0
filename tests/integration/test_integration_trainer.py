"""transformers' Trainer with hfopt optimizers and schedules: same learning rates and losses, resumable.

A tiny BERT built from a local config (no downloads), 8 steps on CPU. transformers and accelerate
are test-only dependencies.
"""
from __future__ import annotations

import functools
import math

import pytest
import torch

pytest.importorskip("accelerate")
transformers = pytest.importorskip("transformers")

from transformers import Trainer, TrainerCallback  # noqa: E402

from hfopt_core import get_optimizer, get_scheduler  # noqa: E402
from hfopt_core.plugin import ScheduleSpec, StepFunction, as_scheduler, check_steps, hookimpl  # noqa: E402
from tiny_setup import Rows, step_logs, tiny_model, training_args  # noqa: E402


class HfoptTrainer(Trainer):
    """The docs' pattern: a Trainer whose schedule is any registered hfopt schedule, by name."""

    def __init__(self, *args, schedule_name=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.schedule_name = schedule_name

    def create_scheduler(self, num_training_steps, optimizer=None):
        if self.lr_scheduler is None:
            self.lr_scheduler = get_scheduler(
                self.schedule_name or self.args.lr_scheduler_type, optimizer or self.optimizer,
                num_warmup_steps=self.args.get_warmup_steps(num_training_steps),
                num_training_steps=num_training_steps, scheduler_specific_kwargs=self.args.lr_scheduler_kwargs)
        return self.lr_scheduler


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def run_and_resume(tmp_path, build, **arg_overrides):
    """Train 8 steps saving at step 4, then resume a fresh setup from step 4; return both runs' logs and weights."""
    full_dir, data = tmp_path / "full", Rows()
    args = training_args(full_dir, save_strategy="steps", save_steps=4, **arg_overrides)
    trainer = build(args, data)
    trainer.train()
    full = (step_logs(trainer), weights(trainer.model))

    args = training_args(tmp_path / "resumed", save_strategy="no", **arg_overrides)
    resumed_trainer = build(args, data)
    resumed_trainer.train(resume_from_checkpoint=str(full_dir / "checkpoint-4"))
    return full, (step_logs(resumed_trainer), weights(resumed_trainer.model))


def test_optimizers_tuple_with_hfopt_adamw_and_schedule_resumes_exactly(tmp_path):
    def build(args, data):
        model = tiny_model()
        opt = get_optimizer("adamw", model.parameters(), lr=1e-2, weight_decay=0.01)
        sched = get_scheduler("cosine", opt, num_warmup_steps=2, num_training_steps=8)
        return Trainer(model, args, train_dataset=data, optimizers=(opt, sched))

    (full_logs, full_w), (resumed_logs, resumed_w) = run_and_resume(tmp_path, build)
    assert len(full_logs) == 8 and resumed_logs == full_logs
    assert_same_weights(resumed_w, full_w)
    # the learning rates are the closed form of cosine with warmup (logged: the lr each step used)
    expected = [1e-2 * (s / 2 if s < 2 else 0.5 * (1 + math.cos(math.pi * (s - 2) / 6))) for s in range(8)]
    assert [lr for _, _, lr in full_logs] == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert all(math.isfinite(loss) for _, loss, _ in full_logs)


def test_optimizer_cls_and_kwargs_with_transformers_schedule_resumes_exactly(tmp_path):
    from hfopt_core import AdamW

    def build(args, data):
        return Trainer(tiny_model(), args, train_dataset=data,
                       optimizer_cls_and_kwargs=(AdamW, {"lr": 1e-2, "weight_decay": 0.01}))

    (full_logs, full_w), (resumed_logs, resumed_w) = run_and_resume(
        tmp_path, build, lr_scheduler_type="cosine_with_min_lr", lr_scheduler_kwargs={"min_lr": 1e-3})
    assert resumed_logs == full_logs
    assert_same_weights(resumed_w, full_w)
    # transformers' get_scheduler drove the hfopt optimizer; the lrs are hfopt's own schedule's
    fn = get_scheduler("cosine_with_min_lr", None, 2, 8, {"min_lr": 1e-3, "lr_init": 1e-2})
    assert [lr for _, _, lr in full_logs] == pytest.approx([1e-2 * fn(s) for s in range(8)], rel=1e-12)


def test_any_registered_schedule_and_optimizer_by_name_resume_exactly(tmp_path):
    def build(args, data):
        return HfoptTrainer(tiny_model(), args, train_dataset=data, schedule_name="wsd",
                            optimizer_cls_and_kwargs=(functools.partial(get_optimizer, "adafactor"),
                                                      {"lr": 1e-2, "scale_parameter": False, "relative_step": False}))

    (full_logs, full_w), (resumed_logs, resumed_w) = run_and_resume(
        tmp_path, build, lr_scheduler_kwargs={"num_decay_steps": 3, "decay_type": "linear"})
    assert resumed_logs == full_logs
    assert_same_weights(resumed_w, full_w)
    fn = get_scheduler("wsd", None, 2, 8, {"num_decay_steps": 3, "decay_type": "linear"})
    assert [lr for _, _, lr in full_logs] == pytest.approx([1e-2 * fn(s) for s in range(8)], rel=1e-12)


def halving(step, ops, *, num_warmup_steps):
    """A third-party formula: warmup, then 0.5."""
    return ops.where(step < num_warmup_steps, ops.to_float(step) / float(max(1, num_warmup_steps)), 0.5)


def get_halving_schedule(optimizer, num_warmup_steps, num_training_steps=None, last_epoch=-1):
    (num_warmup_steps,) = check_steps(num_warmup_steps=num_warmup_steps)
    return as_scheduler(optimizer, StepFunction(halving, num_warmup_steps=num_warmup_steps), last_epoch)


class ThirdParty:
    @hookimpl
    def hfopt_schedules(self):
        yield ScheduleSpec(name="halving", factory=f"{__name__}:get_halving_schedule", frameworks=("torch",),
                           requires=("num_warmup_steps",))


def test_third_party_schedule_by_name_in_trainer(tmp_path, fresh_manager):
    fresh_manager.register(ThirdParty(), name="third-party-halving")
    trainer = HfoptTrainer(tiny_model(), training_args(tmp_path, max_steps=4), train_dataset=Rows(),
                           schedule_name="halving")
    trainer.train()
    assert [lr for _, _, lr in step_logs(trainer)] == pytest.approx([0.0, 5e-3, 5e-3, 5e-3])


def test_lr_scheduler_kwargs_reach_the_schedule_and_show_on_keywords(tmp_path):
    """What transformers' test_lr_scheduler_kwargs checks, with hfopt's get_scheduler behind the Trainer."""
    args = training_args(tmp_path, lr_scheduler_type="polynomial", lr_scheduler_kwargs={"power": 5.0, "lr_end": 1e-5},
                         learning_rate=0.2, warmup_steps=2)
    trainer = HfoptTrainer(tiny_model(), args, train_dataset=Rows())
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    ours = trainer.lr_scheduler.lr_lambdas[0]
    theirs = transformers.get_polynomial_decay_schedule_with_warmup(
        trainer.optimizer, num_warmup_steps=2, num_training_steps=10, power=5.0, lr_end=1e-5).lr_lambdas[0]
    assert (ours.args, ours.keywords) == (theirs.args, theirs.keywords)


@pytest.mark.parametrize(("schedule", "expected"), [
    ("cosine_with_min_lr", {9: 1e-5}),
    ("cosine_warmup_with_min_lr", {0: 0.1, 1: 0.2, 9: 1e-5}),
])
@pytest.mark.filterwarnings(r"ignore:Detected call of `lr_scheduler.step\(\)` before:UserWarning")
def test_min_lr_schedules_through_the_trainer(tmp_path, schedule, expected):
    args = training_args(tmp_path, lr_scheduler_type=schedule, lr_scheduler_kwargs={"min_lr": 1e-5},
                         learning_rate=0.2, warmup_steps=2)
    trainer = HfoptTrainer(tiny_model(), args, train_dataset=Rows())
    trainer.create_optimizer_and_scheduler(num_training_steps=10)
    seen = []
    for _ in range(10):
        seen.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.lr_scheduler.step()
    if schedule == "cosine_with_min_lr":
        seen.append(trainer.lr_scheduler.get_last_lr()[0])
        expected = {10: 1e-5}
    for step, lr in expected.items():
        assert seen[step] == pytest.approx(lr, rel=1e-12)


def test_reduce_on_plateau_arguments_through_get_scheduler(tmp_path):
    model = tiny_model()
    opt = get_optimizer("adamw", model.parameters(), lr=1e-2)
    sched = get_scheduler("reduce_lr_on_plateau", opt,
                          scheduler_specific_kwargs={"factor": 0.2, "patience": 5, "cooldown": 2})
    args = training_args(tmp_path, max_steps=4, eval_strategy="steps", eval_steps=2,
                         metric_for_best_model="eval_loss")
    trainer = Trainer(model, args, train_dataset=Rows(), eval_dataset=Rows(n=8, seed=1), optimizers=(opt, sched))
    trainer.train()
    assert isinstance(trainer.lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert (trainer.lr_scheduler.factor, trainer.lr_scheduler.patience, trainer.lr_scheduler.cooldown) == (0.2, 5, 2)


def test_adafactor_with_lr_none_and_its_schedule(tmp_path):
    from hfopt_core import Adafactor, AdafactorSchedule

    model = tiny_model()
    opt = Adafactor(model.parameters(), scale_parameter=True, relative_step=True, warmup_init=True, lr=None)
    trainer = Trainer(model, training_args(tmp_path, max_steps=4), train_dataset=Rows(),
                      optimizers=(opt, AdafactorSchedule(opt)))
    trainer.train()
    lrs = [lr for _, _, lr in step_logs(trainer)]
    # relative step with warmup_init: 0 before the first step, then growing from 1e-6-scale values
    assert len(lrs) == 4 and lrs[0] == 0.0 and 0 < lrs[1] < lrs[2] < lrs[3] < 1e-3


# -- layer-wise: the Trainer's optimizer_cls_and_kwargs path for optim="*_layerwise" -----------------

class PerParameterLRs(TrainerCallback):
    def __init__(self, read):
        self.read, self.seen = read, []

    def on_step_end(self, args, state, control, **kwargs):
        self.seen.append(self.read())


def test_layerwise_dummy_optimizer_in_a_trainer_run(tmp_path):
    from transformers.trainer_pt_utils import LayerWiseDummyOptimizer

    from hfopt_core import AdamW

    def per_param_optimizer(params):
        return AdamW(params, lr=1e-2, weight_decay=0.01, foreach=False)

    common = dict(lr_scheduler_type="cosine", max_grad_norm=0.0, max_steps=6)
    plain_model = tiny_model()
    plain_opt = per_param_optimizer(plain_model.parameters())
    n = len(list(plain_model.parameters()))
    plain_log = PerParameterLRs(lambda: [plain_opt.param_groups[0]["lr"]] * n)
    plain = HfoptTrainer(plain_model, training_args(tmp_path / "plain", **common), train_dataset=Rows(),
                         optimizer_cls_and_kwargs=(lambda params, **kw: plain_opt, {}), callbacks=[plain_log])
    plain.train()

    # what Trainer.get_optimizer_cls_and_kwargs builds for a *_layerwise optimizer
    model = tiny_model()
    optimizer_dict = {p: per_param_optimizer([{"params": [p]}]) for p in model.parameters()}

    def optimizer_hook(param):
        if param.grad is not None:
            optimizer_dict[param].step()
            optimizer_dict[param].zero_grad()

    for p in model.parameters():
        p.register_post_accumulate_grad_hook(optimizer_hook)
    layer_log = PerParameterLRs(lambda: [o.param_groups[0]["lr"] for o in optimizer_dict.values()])
    layered = HfoptTrainer(model, training_args(tmp_path / "layered", **common), train_dataset=Rows(),
                           optimizer_cls_and_kwargs=(LayerWiseDummyOptimizer,
                                                     {"optimizer_dict": optimizer_dict, "lr": 1e-2}),
                           callbacks=[layer_log])
    layered.train()

    assert isinstance(layered.optimizer.optimizer, LayerWiseDummyOptimizer)
    assert len(layer_log.seen) == 6 and layer_log.seen == plain_log.seen
    assert len({tuple(x) for x in plain_log.seen}) >= 4  # the schedule moved
    assert [lr for *_, lr in step_logs(layered)] == [lr for *_, lr in step_logs(plain)]
    assert_same_weights(weights(model), weights(plain_model))
