"""``hfopt_core.torch.Scheduler``: a registry schedule by class path (LightningCLI YAML, Hydra ``_target_``).

The LightningCLI runs are tiny (12 batches of 4 rows, gradient accumulation 2, CPU, no logger or
checkpoints); they check that the scheduler steps once per optimizer update and the learning rates
each update used.
"""
from __future__ import annotations

import math
import pickle
import subprocess
import sys
import textwrap

import pytest
import torch

from hfopt_core import get_scheduler
from hfopt_core.torch import MetricScheduler, Scheduler

pytestmark = [pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
              # the CLI is run from Python with args=..., inside pytest's own command line
              pytest.mark.filterwarnings("ignore:LightningCLI's args parameter is intended"),
              pytest.mark.filterwarnings("ignore:`Regression.configure_optimizers` will be overridden"),
              # Lightning's own calls into jsonargparse (not ours)
              pytest.mark.filterwarnings("ignore::DeprecationWarning:lightning.pytorch.cli")]


def cosine(step, warmup, total):
    """transformers' cosine-with-warmup multiplier, closed form."""
    if step < warmup:
        return step / warmup
    return max(0.0, 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup))))


def sgd(lr=0.1, groups=(1.0,)):
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in groups]
    return torch.optim.SGD([{"params": [p], "lr": lr * g} for p, g in zip(params, groups)], lr=lr)


def drive(opt, scheduler, steps):
    """The lr of every group at each of ``steps`` updates (optimizer.step, then scheduler.step)."""
    seen = []
    for _ in range(steps):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        scheduler.step()
    return seen


# -- the class ----------------------------------------------------------------------------------------
def test_scheduler_follows_get_scheduler_for_every_group():
    opt = sgd(groups=(1.0, 0.1))
    scheduler = Scheduler(opt, "cosine", num_warmup_steps=2, num_training_steps=8)
    assert isinstance(scheduler, torch.optim.lr_scheduler.LRScheduler) and scheduler.optimizer is opt
    seen = drive(opt, scheduler, 8)
    assert [lr for lrs in seen for lr in lrs] == pytest.approx(
        [lr for s in range(8) for lr in (0.1 * cosine(s, 2, 8), 0.01 * cosine(s, 2, 8))], rel=1e-12)
    assert scheduler.last_epoch == 8 and scheduler.get_last_lr() == [g["lr"] for g in opt.param_groups]
    assert scheduler.base_lrs == pytest.approx([0.1, 0.01])


def test_a_mapping_spec_and_scheduler_specific_kwargs():
    opt = sgd()
    scheduler = Scheduler(opt, {"name": "cosine", "num_warmup_steps": 2}, num_training_steps=8,
                          scheduler_specific_kwargs={"num_cycles": 0.25})
    seen = [lrs[0] for lrs in drive(opt, scheduler, 8)]
    fn = get_scheduler("cosine", None, 2, 8, {"num_cycles": 0.25})
    assert seen == pytest.approx([0.1 * fn(s) for s in range(8)], rel=1e-12)
    assert fn(5) != pytest.approx(cosine(5, 2, 8))  # num_cycles reached the schedule


def test_pickles_and_state_dict_resumes_exactly():
    opt = sgd()
    scheduler = Scheduler(opt, "linear", num_warmup_steps=2, num_training_steps=10)
    drive(opt, scheduler, 4)
    copy = pickle.loads(pickle.dumps(scheduler))
    assert copy.last_epoch == 4 and copy.get_last_lr() == scheduler.get_last_lr()
    state = scheduler.state_dict()
    assert (state["spec"], state["num_warmup_steps"], state["num_training_steps"]) == ("linear", 2, 10)

    fresh_opt = sgd()  # torch's order: build the scheduler, then load the optimizer's state, then its own
    fresh = Scheduler(fresh_opt, "linear", num_warmup_steps=2, num_training_steps=10)
    fresh_opt.load_state_dict(opt.state_dict())
    fresh.load_state_dict(state)
    assert fresh.last_epoch == 4
    assert drive(fresh_opt, fresh, 6) == drive(opt, scheduler, 6)


def test_allow_changed_spec_continues_on_the_new_horizon():
    opt = sgd()
    old = Scheduler(opt, {"name": "linear", "num_warmup_steps": 2}, num_training_steps=10)
    drive(opt, old, 4)
    longer = Scheduler(sgd(), {"name": "linear", "num_warmup_steps": 2}, num_training_steps=20)
    longer.load_state_dict(old.state_dict(), allow_changed_spec=True)
    assert longer.last_epoch == 4
    longer.step()
    assert longer.get_last_lr() == pytest.approx([0.1 * (20 - 5) / 18])  # step 5 of the 20-step line


def test_a_spec_ending_in_a_metric_phase_is_a_reduce_on_plateau():
    spec = [{"name": "constant_with_warmup", "num_warmup_steps": 2, "steps": 2},
            {"name": "reduce_lr_on_plateau", "patience": 0, "factor": 0.5}]
    opt = sgd()
    scheduler = Scheduler(opt, spec, num_training_steps=10)
    assert type(scheduler) is MetricScheduler and isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert type(Scheduler(sgd(), "cosine", 2, 8)) is Scheduler
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step(1.0)  # a metric that never improves
    assert seen == pytest.approx([0.0, 0.05, 0.1, 0.1, 0.05, 0.025])
    copy = pickle.loads(pickle.dumps(scheduler))
    assert type(copy) is MetricScheduler and copy.last_epoch == 6


def test_importing_hfopt_core_does_not_import_torch():
    code = "import sys, hfopt_core, hfopt_core.api; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- jsonargparse ----------------------------------------------------------------------------------------
def test_jsonargparse_class_path_with_the_optimizer_given_later():
    jsonargparse = pytest.importorskip("jsonargparse")
    from typing import Callable

    parser = jsonargparse.ArgumentParser()
    parser.add_argument("--scheduler", type=Callable[[torch.optim.Optimizer], torch.optim.lr_scheduler.LRScheduler])
    config = parser.parse_args(["--scheduler", '{"class_path": "hfopt_core.torch.Scheduler", "init_args": '
                                               '{"spec": {"name": "cosine", "num_cycles": 0.25}, '
                                               '"num_warmup_steps": 2, "num_training_steps": 8}}'])
    opt = sgd()
    scheduler = parser.instantiate(config).scheduler(opt)
    assert isinstance(scheduler, Scheduler)
    fn = get_scheduler("cosine", None, 2, 8, {"num_cycles": 0.25})
    assert [lrs[0] for lrs in drive(opt, scheduler, 8)] == pytest.approx([0.1 * fn(s) for s in range(8)], rel=1e-12)


# -- Hydra ----------------------------------------------------------------------------------------------
def test_hydra_target_instantiates_a_scheduler_from_yaml():
    hydra_utils = pytest.importorskip("hydra.utils")
    from omegaconf import OmegaConf

    config = OmegaConf.create(textwrap.dedent("""
        _target_: hfopt_core.torch.Scheduler
        spec:
          - {name: constant_with_warmup, num_warmup_steps: 2, steps: 4}
          - {name: cosine, num_warmup_steps: 0}
        num_training_steps: 8
    """))
    opt = sgd()
    scheduler = hydra_utils.instantiate(config, optimizer=opt)
    assert isinstance(scheduler, Scheduler)
    assert scheduler.spec == [{"name": "constant_with_warmup", "num_warmup_steps": 2, "steps": 4},
                              {"name": "cosine", "num_warmup_steps": 0}]  # plain data, not OmegaConf
    expected = [0.0, 0.5, 1.0, 1.0] + [cosine(k, 0, 4) for k in range(4)]
    assert [lrs[0] for lrs in drive(opt, scheduler, 8)] == pytest.approx([0.1 * m for m in expected], rel=1e-12)
    pickle.dumps(scheduler.state_dict())


# -- LightningCLI ----------------------------------------------------------------------------------------
pl = pytest.importorskip("lightning.pytorch")
cli = pytest.importorskip("lightning.pytorch.cli")

ACCUMULATE, BATCHES = 2, 12
UPDATES = BATCHES // ACCUMULATE


class Regression(pl.LightningModule):
    """A linear model that records the lr every optimizer update used and the scheduler it got."""

    def __init__(self, optimizer: cli.OptimizerCallable = torch.optim.SGD,
                 scheduler: cli.LRSchedulerCallable | None = None):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(4, 1)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.update_lrs = []

    def training_step(self, batch, batch_idx):
        x, y = batch
        self.log("score", 1.0)  # a metric that never improves, for metric-driven phases
        return torch.nn.functional.mse_loss(self.net(x), y)

    def on_before_optimizer_step(self, optimizer):
        self.update_lrs.append(optimizer.param_groups[0]["lr"])

    def configure_optimizers(self):
        if self.scheduler_factory is None:  # LightningCLI's own optimizer / lr_scheduler keys
            return super().configure_optimizers()
        opt = self.optimizer_factory(self.parameters())
        scheduler = self.scheduler_factory(opt)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": "step", "monitor": "score"}}

    def train_dataloader(self):
        gen = torch.Generator().manual_seed(3)
        x = torch.randn(4 * BATCHES, 4, generator=gen)
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True)), batch_size=4)


class StepIntervalCLI(cli.LightningCLI):
    """LightningCLI whose ``lr_scheduler`` key steps per optimizer update (its default is per epoch)."""

    @staticmethod
    def configure_optimizers(lightning_module, optimizer, lr_scheduler=None):
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": lr_scheduler, "interval": "step"}}


TRAINER = f"""
trainer:
  max_epochs: 1
  accumulate_grad_batches: {ACCUMULATE}
  accelerator: cpu
  devices: 1
  logger: false
  enable_checkpointing: false
  enable_progress_bar: false
  enable_model_summary: false
"""

CLI_KEYS = TRAINER + f"""
optimizer:
  class_path: torch.optim.SGD
  init_args: {{lr: 0.1}}
lr_scheduler:
  class_path: hfopt_core.torch.Scheduler
  init_args:
    spec: cosine
    num_warmup_steps: 2
    num_training_steps: {UPDATES}
"""

MODULE_ARGS = TRAINER + f"""
model:
  optimizer:
    class_path: torch.optim.SGD
    init_args: {{lr: 0.1}}
  scheduler:
    class_path: hfopt_core.torch.Scheduler
    init_args:
      spec: {{name: cosine, num_warmup_steps: 2}}
      num_training_steps: {UPDATES}
"""


MODULE_ARGS_METRIC_PHASE = TRAINER + f"""
model:
  optimizer:
    class_path: torch.optim.SGD
    init_args: {{lr: 0.1}}
  scheduler:
    class_path: hfopt_core.torch.Scheduler
    init_args:
      spec:
        - {{name: constant_with_warmup, num_warmup_steps: 2, steps: 2}}
        - {{name: reduce_lr_on_plateau, patience: 0, factor: 0.5}}
      num_training_steps: {UPDATES}
"""


def test_lightning_cli_yaml_warmup_then_plateau_gets_the_monitor_metric(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(MODULE_ARGS_METRIC_PHASE)
    run = StepIntervalCLI(Regression, args=["fit", "--config", str(path), "--trainer.default_root_dir", str(tmp_path)],
                          save_config_callback=None, seed_everything_default=0)
    [lr_config] = run.trainer.lr_scheduler_configs
    assert isinstance(lr_config.scheduler, MetricScheduler) and lr_config.reduce_on_plateau
    assert lr_config.scheduler.last_epoch == UPDATES
    # the same spec driven by hand with the same never-improving metric
    opt = sgd()
    manual = Scheduler(opt, [{"name": "constant_with_warmup", "num_warmup_steps": 2, "steps": 2},
                             {"name": "reduce_lr_on_plateau", "patience": 0, "factor": 0.5}], num_training_steps=UPDATES)
    expected = []
    for _ in range(UPDATES):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        manual.step(1.0)
    assert run.model.update_lrs == pytest.approx(expected, rel=1e-12)
    assert expected[:3] == pytest.approx([0.0, 0.05, 0.1]) and expected[-1] < 0.1


@pytest.mark.parametrize("config", [CLI_KEYS, MODULE_ARGS], ids=["cli-lr_scheduler-key", "module-configure_optimizers"])
def test_lightning_cli_yaml_steps_once_per_optimizer_update(tmp_path, config):
    path = tmp_path / "config.yaml"
    path.write_text(config)
    run = StepIntervalCLI(Regression, args=["fit", "--config", str(path), "--trainer.default_root_dir", str(tmp_path)],
                          save_config_callback=None, seed_everything_default=0)
    [lr_config] = run.trainer.lr_scheduler_configs
    scheduler = lr_config.scheduler
    assert isinstance(scheduler, Scheduler) and lr_config.interval == "step"
    assert run.trainer.global_step == UPDATES and scheduler.last_epoch == UPDATES
    assert run.model.update_lrs == pytest.approx([0.1 * cosine(s, 2, UPDATES) for s in range(UPDATES)], rel=1e-12)
