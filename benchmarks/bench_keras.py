"""Keras: AdamWeightDecay train steps and a registry schedule in a graph, against their anchors.

Each flavour runs in a fresh process (the Keras flavour is fixed at import), with a jit-compiled
train step (``tf.function(jit_compile=True)``: forward, gradients, ``apply_gradients``) of a small
MLP (256-512-512-10, batch 64, fp32, CPU); the optimizers step identical copies of the model,
timed round-robin, median per step:

* Keras 3: hfopt ``AdamWeightDecay`` against ``keras.optimizers.AdamW`` (target <= 1.05x);
* tf-keras (``TF_USE_LEGACY_KERAS=1``): hfopt ``AdamWeightDecay`` against transformers 4.57.6's
  ``AdamWeightDecay`` (a bench-only dependency; target <= 1.05x);
* Keras 3: ``get_scheduler("cosine", ...)``'s schedule against ``keras.optimizers.schedules.CosineDecay``
  (same warmup + cosine), evaluated in a jit-compiled graph once per call, and 100 000 times (every step of the run, 100 times) in a
  ``tf.while_loop`` inside one jit-compiled call (the evaluation's own cost), target <= 1.2x each.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks.common import ratio_row

REPEATS = 200
STEPS_PER_CALL = 3  # train steps per timed call: less timer and scheduling noise per sample


def _mlp(keras, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((256,)), keras.layers.Dense(512, activation="relu"),
                             keras.layers.Dense(512, activation="relu"), keras.layers.Dense(10)])


def _train_steps(keras, optimizers):
    import numpy as np
    import tensorflow as tf

    from benchmarks.common import interleaved_medians

    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((64, 256)).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, 64))
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    fns = {}
    for name, optimizer in optimizers.items():
        model = _mlp(keras)

        @tf.function(jit_compile=True)
        def step(model=model, optimizer=optimizer):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        fns[name] = lambda step=step: [step() for _ in range(STEPS_PER_CALL)][-1].numpy()
    medians = interleaved_medians(fns, repeats=REPEATS, warmup=5)
    return {name: seconds / STEPS_PER_CALL for name, seconds in medians.items()}


def _worker(flavour: str) -> dict:
    if flavour == "tf_keras":
        import tf_keras as keras
        from transformers.optimization_tf import AdamWeightDecay as HFAdamWeightDecay

        from hfopt_adamweightdecay import AdamWeightDecay

        kwargs = dict(learning_rate=1e-3, weight_decay_rate=0.01, exclude_from_weight_decay=["bias"])
        return _train_steps(keras, {"transformers": HFAdamWeightDecay(**kwargs), "hfopt": AdamWeightDecay(**kwargs)})
    import keras
    import numpy as np
    import tensorflow as tf

    from benchmarks.common import interleaved_medians
    from hfopt_adamweightdecay import AdamWeightDecay
    from hfopt_core import get_scheduler

    result = _train_steps(keras, {
        "keras_adamw": keras.optimizers.AdamW(learning_rate=1e-3, weight_decay=0.01),
        "hfopt": AdamWeightDecay(learning_rate=1e-3, weight_decay_rate=0.01)})
    lr, warmup, total = 1e-3, 100, 1000
    ours = get_scheduler("cosine", keras.optimizers.Adam(learning_rate=lr), num_warmup_steps=warmup,
                         num_training_steps=total)
    anchor = keras.optimizers.schedules.CosineDecay(0.0, total - warmup, warmup_target=lr, warmup_steps=warmup)
    step = tf.Variable(0, dtype=tf.int64)

    def in_loop(schedule, n=100 * total):  # 100 runs of every step of a 1000-step schedule
        return tf.while_loop(lambda i, acc: i < n, lambda i, acc: (i + 1, acc + schedule(i % total)),
                             (tf.constant(0, tf.int64), tf.constant(0.0)))[1]
    fns = {}
    for name, schedule in (("sched_hfopt", ours), ("sched_keras", anchor)):
        one = tf.function(lambda schedule=schedule: (step.assign_add(1), schedule(step))[1], jit_compile=True)
        many = tf.function(lambda schedule=schedule: in_loop(schedule), jit_compile=True)
        fns[name] = lambda one=one: one().numpy()
        fns[name + "_many"] = lambda many=many: many().numpy()
    np.testing.assert_allclose(float(fns["sched_hfopt_many"]()), float(fns["sched_keras_many"]()), rtol=1e-4)
    result.update(interleaved_medians(fns, repeats=REPEATS, warmup=5))
    return result


def _run_worker(flavour: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "KERAS_BACKEND")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", **({"TF_USE_LEGACY_KERAS": "1"} if flavour == "tf_keras" else {}))
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_keras", flavour], env=env, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run():
    """The Keras rows (see the module docstring)."""
    k3, tk = _run_worker("keras"), _run_worker("tf_keras")
    group = "Keras train step, MLP 256-512-512-10, jit"
    return [
        ratio_row(group + " (Keras 3)", "hfopt AdamWeightDecay", "keras.optimizers.AdamW",
                  k3["hfopt"], k3["keras_adamw"], 1.05),
        ratio_row(group + " (tf-keras)", "hfopt AdamWeightDecay", "transformers 4.57.6 AdamWeightDecay",
                  tk["hfopt"], tk["transformers"], 1.05),
        ratio_row("schedule in a jit graph, one step per call (Keras 3)", "get_scheduler('cosine')",
                  "keras CosineDecay (same warmup)", k3["sched_hfopt"], k3["sched_keras"], 1.2),
        ratio_row("schedule in a jit graph, 100k steps in a while_loop (Keras 3)", "get_scheduler('cosine')",
                  "keras CosineDecay (same warmup)", k3["sched_hfopt_many"], k3["sched_keras_many"], 1.2),
    ]


if __name__ == "__main__":
    print(json.dumps(_worker(sys.argv[1])))
