"""A tiny transformers model and data built locally (no downloads), shared by the integration tests."""
from __future__ import annotations

import torch


class Rows(torch.utils.data.Dataset):
    """Fixed-length token rows with binary labels, generated from a seed."""

    def __init__(self, n=32, length=8, vocab=32, seed=0):
        gen = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, vocab, (n, length), generator=gen)
        self.labels = (self.ids.sum(dim=1) % 2).long()

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones_like(self.ids[i]), "labels": self.labels[i]}


def tiny_model(seed=0):
    """A 1-layer BERT classifier with 16 hidden units and no dropout, from a local config."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=16, num_labels=2,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    torch.manual_seed(seed)
    return BertForSequenceClassification(config)


def training_args(output_dir, **overrides):
    """Fast, deterministic TrainingArguments: CPU, no reporting, a log line (loss, lr) per step."""
    from transformers import TrainingArguments

    kwargs = dict(output_dir=str(output_dir), per_device_train_batch_size=4, max_steps=8, logging_steps=1,
                  save_strategy="no", report_to=[], use_cpu=True, seed=0, disable_tqdm=True,
                  dataloader_num_workers=0, learning_rate=1e-2, warmup_steps=2, save_only_model=False)
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)


def step_logs(trainer):
    """``[(step, loss, learning_rate), ...]`` from the trainer's log history."""
    return [(e["step"], e["loss"], e["learning_rate"]) for e in trainer.state.log_history if "loss" in e]
