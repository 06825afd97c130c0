"""GradientAccumulator: transformers' behaviour and messages, per-replica accumulation, other backends refused."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "keras"))
from keras_env import ON_TF  # noqa: E402

from hfopt_core import get_accumulator  # noqa: E402

if not ON_TF:
    def test_other_backends_point_to_gradient_accumulation_steps():
        from hfopt_gradient_accumulator import GradientAccumulator

        with pytest.raises(TypeError, match="gradient_accumulation_steps"):
            GradientAccumulator()

    pytest.skip("the rest needs the TensorFlow backend", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from hfopt_gradient_accumulator import GradientAccumulator  # noqa: E402


def test_accumulates_like_transformers():
    from transformers.optimization_tf import GradientAccumulator as HFGradientAccumulator

    ours, theirs = get_accumulator("gradient_accumulator"), HFGradientAccumulator()
    assert isinstance(ours, GradientAccumulator)
    for acc in (ours, theirs):
        acc([tf.constant([1.0, 2.0]), None, tf.constant([[3.0]])])
        acc([tf.constant([-2.0, 1.0]), None, tf.constant([[1.0]])])
    assert ours.step.dtype == tf.int64 and int(ours.step) == int(theirs.step) == 2
    for a, b in zip(ours.gradients, theirs.gradients):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    ours.reset()
    assert int(ours.step) == 0 and all(g is None or not g.numpy().any() for g in ours.gradients)


def test_upstream_messages():
    acc = GradientAccumulator()
    with pytest.raises(ValueError, match="The accumulator should be called first to initialize the gradients"):
        acc.gradients
    acc([tf.constant(1.0)])
    with pytest.raises(ValueError, match="Expected 1 gradients, but got 2"):
        acc([tf.constant(1.0), tf.constant(2.0)])
    acc.reset()
    GradientAccumulator().reset()  # nothing accumulated yet: a no-op


def test_variables_are_on_read_first_replica():
    acc = GradientAccumulator()
    acc([tf.constant([1.0])])
    var = acc._gradients[0]
    assert var.synchronization == tf.VariableSynchronization.ON_READ
    assert var.aggregation == tf.VariableAggregation.ONLY_FIRST_REPLICA
    assert not var.trainable


DISTRIBUTED = textwrap.dedent("""
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from hfopt_gradient_accumulator import GradientAccumulator
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        acc = GradientAccumulator()
        variable = tf.Variable([4.0, 3.0])
    def step(values):
        acc([values])
    def run(per_replica):
        values = strategy.experimental_distribute_values_from_function(lambda ctx: tf.constant(per_replica[ctx.replica_id_in_sync_group]))
        strategy.run(step, args=(values,))
    run([[1.0, 2.0], [-1.0, 1.0]])
    run([[-3.0, 1.0], [-1.0, 3.0]])
    local = strategy.experimental_local_results(acc._gradients[0])
    np.testing.assert_allclose(local[0].numpy(), [-2.0, 3.0])
    np.testing.assert_allclose(local[1].numpy(), [-2.0, 4.0])
    assert int(acc.step) == 2
    acc.reset()
    assert int(acc.step) == 0
    for value in strategy.experimental_local_results(acc._gradients[0]):
        np.testing.assert_allclose(value.numpy(), [0.0, 0.0])
    print("OK")
""")


def test_accumulates_per_replica_and_reset_zeroes_every_replica():
    out = subprocess.run([sys.executable, "-c", DISTRIBUTED], capture_output=True, text=True, env=dict(os.environ))
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-3000:]
