"""Lightning with an hfopt scheduler at ``"interval": "step"``: same learning rates and losses after resuming.

Lightning is a test-only dependency. 2 epochs of 4 steps on CPU; the checkpoint is taken at the end
of the first epoch and a fresh module resumes from it.
"""
from __future__ import annotations

import pytest
import torch

pl = pytest.importorskip("lightning.pytorch")

from hfopt_core import get_optimizer, get_scheduler  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore:`isinstance\\(treespec, LeafSpec\\)` is deprecated"),
              # the resumed run deliberately has no checkpoint callback
              pytest.mark.filterwarnings("ignore:Be aware that when using `ckpt_path`")]


class Regression(pl.LightningModule):
    def __init__(self, schedule="cosine", specific=None):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
        self.schedule, self.specific = schedule, specific
        self.seen = []  # (global_step, loss, lr used by this step)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        lr = self.trainer.optimizers[0].param_groups[0]["lr"]
        self.seen.append((self.global_step, loss.item(), lr))
        return loss

    def configure_optimizers(self):
        opt = get_optimizer("adamw", self.parameters(), lr=0.05, weight_decay=0.01)
        sched = get_scheduler(self.schedule, opt, num_warmup_steps=2, num_training_steps=8,
                              scheduler_specific_kwargs=self.specific)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def loader():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(16, 4, generator=gen)
    y = x.sum(dim=1, keepdim=True)
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4, shuffle=False)


def trainer(root, **kwargs):
    return pl.Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                      enable_model_summary=False, default_root_dir=str(root), **kwargs)


@pytest.mark.parametrize(("schedule", "specific"), [("cosine", None), ("warmup_stable_decay", {"num_decay_steps": 3})])
def test_step_interval_schedule_resumes_exactly(tmp_path, schedule, specific):
    checkpoints = pl.callbacks.ModelCheckpoint(dirpath=str(tmp_path / "ckpt"), every_n_epochs=1, save_top_k=-1)
    full = Regression(schedule, specific)
    trainer(tmp_path / "full", callbacks=[checkpoints]).fit(full, loader())
    assert [s for s, _, _ in full.seen] == list(range(8))
    fn = get_scheduler(schedule, None, 2, 8, specific)
    assert [lr for _, _, lr in full.seen] == pytest.approx([0.05 * fn(s) for s in range(8)], rel=1e-12)

    resumed = Regression(schedule, specific)
    trainer(tmp_path / "resumed", enable_checkpointing=False).fit(resumed, loader(), ckpt_path=str(tmp_path / "ckpt" / "epoch=0-step=4.ckpt"))
    assert resumed.seen == full.seen[4:]
    for a, b in zip(resumed.parameters(), full.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
