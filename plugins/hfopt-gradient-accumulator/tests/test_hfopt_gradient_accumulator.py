"""GradientAccumulator: transformers' behaviour and messages, per-replica accumulation, other backends refused."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

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
    assert int(acc.step) == 1 and len(acc.gradients) == 1  # the refused call changed nothing
    assert float(acc.gradients[0]) == 1.0
    acc.reset()
    assert int(acc.step) == 0 and float(acc.gradients[0]) == 0.0
    GradientAccumulator().reset()  # nothing accumulated yet: a no-op


def test_not_registered_as_a_keras_object():
    from keras_env import keras

    from hfopt_core import get_manager, register_keras_objects

    objects = register_keras_objects()
    assert "AdamWeightDecay" in objects  # the Keras classes are
    assert "GradientAccumulator" not in objects and "GradientAccumulator" not in keras.utils.get_custom_objects()
    spec = next(s for s in get_manager().specs("accumulator") if s.name == "gradient_accumulator")
    assert spec.frameworks == ("tensorflow",)  # it declares TensorFlow, not Keras


def test_variables_are_on_read_first_replica():
    acc = GradientAccumulator()
    acc([tf.constant([1.0])])
    var = acc._gradients[0]
    assert var.synchronization == tf.VariableSynchronization.ON_READ
    assert var.aggregation == tf.VariableAggregation.ONLY_FIRST_REPLICA
    assert not var.trainable


DISTRIBUTED = textwrap.dedent("""
    import sys
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from hfopt_adamweightdecay import AdamWeightDecay, create_optimizer
    from hfopt_gradient_accumulator import GradientAccumulator
    KERAS3 = sys.argv[1] == "keras"
    # three steps of per-replica gradients: replica 0 sums to [3.5, 3], replica 1 to [-3, -2]
    STEPS = [([1.0, 2.0], [-1.0, 1.0]), ([2.0, -3.0], [-2.0, -1.0]), ([0.5, 4.0], [0.0, -2.0])]
    SUMS = [[3.5, 3.0], [-3.0, -2.0]]

    def check(strategy, make_optimizer, expected):
        replicas = strategy.num_replicas_in_sync
        with strategy.scope():
            acc = GradientAccumulator()
            variable = tf.Variable([4.0, 3.0])
            optimizer = make_optimizer(variable)

        @tf.function
        def accumulate(values):
            strategy.run(lambda gradient: acc([gradient]), args=(values,))

        @tf.function
        def apply():
            strategy.run(lambda: optimizer.apply_gradients(zip(acc.gradients, [variable])))

        for pair in STEPS:
            accumulate(strategy.experimental_distribute_values_from_function(
                lambda ctx, pair=pair: tf.constant(pair[ctx.replica_id_in_sync_group])))
        assert int(acc.step) == 3, acc.step
        local = [v.numpy() for v in strategy.experimental_local_results(acc._gradients[0])]
        np.testing.assert_allclose(local, SUMS[:replicas])
        apply()
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5)
        acc.reset()
        assert int(acc.step) == 0
        for value in strategy.experimental_local_results(acc._gradients[0]):
            np.testing.assert_array_equal(value.numpy(), [0.0, 0.0])

    def transformers_schedule(variable):
        # create_optimizer(5e-5, 10, 5): the plain Keras Adam, lr 0 at the first step (warmup)
        optimizer, _ = create_optimizer(5e-5, 10, 5)
        if KERAS3:  # Keras 3's own Adam must be built in the strategy scope (docs/compatibility.md)
            optimizer.build([variable])
        return optimizer

    # two replicas, and one (where a bare ON_READ read has no device for Keras 3's all-reduce)
    for strategy in (tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), tf.distribute.MirroredStrategy(["/cpu:0"])):
        check(strategy, transformers_schedule, [4.0, 3.0])
        # AdamWeightDecay builds itself (no build call): the summed gradient ([0.5, 1] on two replicas,
        # [3.5, 3] on one) moves each weight by lr (Adam's first step is lr * g / |g|), after the
        # decay w -= lr * rate * w
        check(strategy, lambda variable: AdamWeightDecay(0.1), [4.0 - 0.1, 3.0 - 0.1])
        check(strategy, lambda variable: AdamWeightDecay(0.1, weight_decay_rate=0.5),
              [4.0 * (1 - 0.05) - 0.1, 3.0 * (1 - 0.05) - 0.1])
    print("OK")
""")


def test_accumulates_per_replica_and_applies_under_mirrored_strategy():
    """transformers' distributed case: accumulate per replica in tf.function, apply, reset (2 logical CPUs)."""
    from keras_env import FLAVOUR

    out = subprocess.run([sys.executable, "-c", DISTRIBUTED, FLAVOUR], capture_output=True, text=True,
                         env=dict(os.environ))
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-3000:]



def test_plugin_conforms():
    """The conformance kit third parties run (tests/core/test_core_conformance.py leaves this folder to us)."""
    from hfopt_core.testing import check_plugin

    specs = check_plugin("hfopt_gradient_accumulator.plugin", distribution="hfopt-gradient-accumulator")
    assert [s.name for s in specs] == ["gradient_accumulator"]


README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_example_runs():
    from hfopt_core.testing import run_readme_examples

    run_readme_examples(README)
