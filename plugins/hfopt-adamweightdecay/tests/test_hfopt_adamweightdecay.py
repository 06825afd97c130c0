"""AdamWeightDecay and create_optimizer: transformers 4.57.6's numbers, serialization, resume, distribution."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from keras_env import BACKEND, FLAVOUR, LEGACY, ON_TF, keras, needs_tf, to_numpy  # noqa: E402
from invalid_cases import Case, check_case, parametrize  # noqa: E402

from hfopt_adamweightdecay import AdamWeightDecay, create_optimizer  # noqa: E402
from hfopt_core import get_optimizer, get_scheduler  # noqa: E402
from hfopt_warmup import WarmUp  # noqa: E402

NAMES = ["encoder_LayerNorm_gamma", "dense_kernel", "dense_bias"]
INIT = [np.linspace(-1, 1, 4, dtype=np.float32), np.linspace(0.5, 2, 6, dtype=np.float32).reshape(2, 3),
        np.full(3, 0.3, np.float32)]


def grads(step):
    rng = np.random.default_rng(step)
    return [rng.standard_normal(v.shape).astype(np.float32) for v in INIT]


def run_transformers(steps=4, **kwargs):
    """The oracle: transformers' AdamWeightDecay (tf-keras legacy Adam) on tf.Variables."""
    import tensorflow as tf
    from transformers.optimization_tf import AdamWeightDecay as HFAdamWeightDecay

    variables = [tf.Variable(v, name=n) for v, n in zip(INIT, NAMES)]
    optimizer = HFAdamWeightDecay(**kwargs)
    for step in range(steps):
        optimizer.apply_gradients(zip([tf.constant(g) for g in grads(step)], variables))
    return [v.numpy() for v in variables]


def run_hfopt(steps=4, **kwargs):
    if LEGACY:
        import tensorflow as tf

        variables = [tf.Variable(v, name=n) for v, n in zip(INIT, NAMES)]
        convert = tf.constant
    else:
        variables = [keras.Variable(v, name=n) for v, n in zip(INIT, NAMES)]
        convert = keras.ops.convert_to_tensor
    optimizer = AdamWeightDecay(**kwargs)
    for step in range(steps):
        optimizer.apply_gradients(zip([convert(g) for g in grads(step)], variables))
    return [to_numpy(v) for v in variables]


@pytest.mark.parametrize("kwargs", [
    {"learning_rate": 0.01, "weight_decay_rate": 0.1},
    {"learning_rate": 0.01, "weight_decay_rate": 0.1, "exclude_from_weight_decay": ["LayerNorm", "bias"]},
    {"learning_rate": 0.01, "weight_decay_rate": 0.1, "exclude_from_weight_decay": ["dense"],
     "include_in_weight_decay": ["kernel"]},
    {"learning_rate": 0.02, "weight_decay_rate": 0.0, "amsgrad": True, "epsilon": 1e-6},
], ids=["all", "exclude", "include-overrides", "no-decay-amsgrad"])
def test_same_numbers_as_transformers(kwargs):
    want = run_transformers(**kwargs)
    got = run_hfopt(**kwargs)
    for g, w in zip(got, want):
        if LEGACY:  # the same kernel, the same order of operations: identical
            np.testing.assert_array_equal(g, w)
        else:  # Keras 3's Adam: the same math in another order of float32 operations
            np.testing.assert_allclose(g, w, rtol=2e-6, atol=1e-7)


@needs_tf
def test_first_apply_inside_tf_function_equals_eager():
    # Keras 3 builds the slots outside the function (init_scope); the steps must be the same
    import tensorflow as tf

    def run(step_fn_wrapper):
        variables = [tf.Variable(v, name=n) for v, n in zip(INIT, NAMES)] if LEGACY else \
            [keras.Variable(v, name=n) for v, n in zip(INIT, NAMES)]
        optimizer = AdamWeightDecay(learning_rate=0.01, weight_decay_rate=0.1, exclude_from_weight_decay=["bias"])
        def apply(gradients):
            optimizer.apply_gradients(zip(gradients, variables))

        step = step_fn_wrapper(apply)
        for i in range(3):
            step([tf.constant(g) for g in grads(i)])
        return [to_numpy(v) for v in variables]

    for got, want in zip(run(tf.function), run(lambda f: f)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_decay_uses_the_schedule_value_before_bias_correction():
    # one step with a zero gradient: Adam moves nothing, only the decay lr * rate * w applies
    if LEGACY:
        import tensorflow as tf

        var, zero = tf.Variable(np.ones(3, np.float32), name="w"), tf.zeros(3)
    else:
        var, zero = keras.Variable(np.ones(3, np.float32), name="w"), keras.ops.zeros(3)
    schedule = keras.optimizers.schedules.PolynomialDecay(0.5, 10, 0.0)
    AdamWeightDecay(learning_rate=schedule, weight_decay_rate=0.2).apply_gradients([(zero, var)])
    np.testing.assert_allclose(to_numpy(var), np.full(3, 1 - 0.5 * 0.2, np.float32), rtol=1e-6)


@pytest.mark.skipif(LEGACY, reason="Keras 3 only: variables have a path")
def test_keras3_patterns_match_the_variable_path():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense"),
                              keras.layers.LayerNormalization(name="LayerNorm")])
    optimizer = AdamWeightDecay(weight_decay_rate=0.1, exclude_from_weight_decay=["LayerNorm", "bias"])
    decayed = {v.path.split("/", 1)[1]: optimizer._use_weight_decay(v) for v in model.trainable_variables}
    assert decayed == {"dense/kernel": True, "dense/bias": False, "LayerNorm/gamma": False, "LayerNorm/beta": False}


def transformers_create_optimizer(**kwargs):
    from transformers.optimization_tf import create_optimizer as hf_create_optimizer

    return hf_create_optimizer(**kwargs)


@pytest.mark.parametrize("kwargs", [
    {"init_lr": 1e-3, "num_train_steps": 20, "num_warmup_steps": 5, "weight_decay_rate": 0.01},
    {"init_lr": 5e-4, "num_train_steps": 20, "num_warmup_steps": 0, "min_lr_ratio": 0.1, "power": 2.0},
    {"init_lr": 1e-3, "num_train_steps": 12, "num_warmup_steps": 4, "adam_clipnorm": 1.0,
     "adam_global_clipnorm": None, "weight_decay_rate": 0.1, "include_in_weight_decay": ["bias"]},
])
def test_create_optimizer_matches_transformers(kwargs):
    optimizer, schedule = create_optimizer(**kwargs)
    hf_optimizer, hf_schedule = transformers_create_optimizer(**kwargs)
    steps = range(25)
    np.testing.assert_allclose([float(to_numpy(schedule(s))) for s in steps],
                               [float(hf_schedule(s)) for s in steps], rtol=1e-6, atol=1e-12)
    assert isinstance(schedule, WarmUp) == (kwargs["num_warmup_steps"] > 0)
    if kwargs.get("weight_decay_rate", 0) > 0:
        assert isinstance(optimizer, AdamWeightDecay)
        assert optimizer._exclude_from_weight_decay == ["LayerNorm", "layer_norm", "bias"]
        assert optimizer._include_in_weight_decay == kwargs.get("include_in_weight_decay")
        assert optimizer.weight_decay_rate == kwargs["weight_decay_rate"]
    else:
        assert isinstance(optimizer, keras.optimizers.Adam) and not isinstance(optimizer, AdamWeightDecay)
    assert optimizer.clipnorm == kwargs.get("adam_clipnorm")
    config = optimizer.get_config()
    assert config["beta_1"] == pytest.approx(0.9) and config["epsilon"] == pytest.approx(1e-8)


def test_get_optimizer_builds_it_by_name():
    optimizer = get_optimizer("adamweightdecay", learning_rate=0.1, weight_decay_rate=0.01)
    assert isinstance(optimizer, AdamWeightDecay) and optimizer.weight_decay_rate == 0.01


def test_config_keeps_every_argument_and_the_schedule():
    optimizer, _ = create_optimizer(1e-3, 20, 5, weight_decay_rate=0.01, include_in_weight_decay=["kernel"])
    config = optimizer.get_config()
    assert config["include_in_weight_decay"] == ["kernel"]
    assert config["exclude_from_weight_decay"] == ["LayerNorm", "layer_norm", "bias"]
    restored = AdamWeightDecay.from_config(config)
    assert restored._include_in_weight_decay == ["kernel"]
    assert restored._exclude_from_weight_decay == ["LayerNorm", "layer_norm", "bias"]
    assert isinstance(restored.learning_rate if LEGACY else restored._learning_rate, WarmUp) or LEGACY
    schedule = restored._get_hyper("learning_rate") if LEGACY else restored._learning_rate
    assert isinstance(schedule, WarmUp)
    assert float(to_numpy(schedule(12))) == pytest.approx(float(to_numpy(optimizer.get_config() and schedule(12))))
    assert isinstance(schedule.decay_schedule_fn, keras.optimizers.schedules.PolynomialDecay)


def make_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu", name="dense"),
                             keras.layers.LayerNormalization(name="LayerNorm"), keras.layers.Dense(1, name="out")])


DATA = (np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32),
        np.random.default_rng(1).standard_normal((32, 1)).astype(np.float32))


def fit(model, epochs):
    model.fit(*DATA, batch_size=8, epochs=epochs, shuffle=False, verbose=0)


def compiled(model):
    optimizer, _ = create_optimizer(1e-2, 16, 4, weight_decay_rate=0.01)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_fit_learns_saves_loads_and_continues_exactly(tmp_path):
    straight = compiled(make_model())
    loss0 = straight.evaluate(*DATA, verbose=0)
    fit(straight, 4)
    assert straight.evaluate(*DATA, verbose=0) < loss0
    resumed = compiled(make_model())
    fit(resumed, 2)
    path = str(tmp_path / "m.keras")
    resumed.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects: the classes are registered
    assert isinstance(loaded.optimizer, AdamWeightDecay)
    assert loaded.optimizer.get_config() == resumed.optimizer.get_config()
    if LEGACY:
        # tf-keras' .keras format saves no legacy-optimizer state (transformers' optimizer alike):
        # the config round-trips (above); the h5 format (and tf.train.Checkpoint) carry the state.
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "HDF5 is legacy"
            resumed.save(str(tmp_path / "m.h5"))
        loaded = keras.models.load_model(str(tmp_path / "m.h5"))
        assert isinstance(loaded.optimizer, AdamWeightDecay)
    fit(loaded, 2)
    for a, b in zip(straight.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(LEGACY or not ON_TF, reason="one flavour is enough for the fresh-process load")
def test_a_fresh_process_loads_the_model_after_importing_hfopt(tmp_path):
    model = compiled(make_model())
    fit(model, 1)
    model.save(str(tmp_path / "m.keras"))
    code = ("import sys, keras\nfrom hfopt_core import AdamWeightDecay\n"
            "m = keras.models.load_model(sys.argv[1])\n"
            "assert type(m.optimizer) is AdamWeightDecay, type(m.optimizer)\n"
            "assert type(m.optimizer._learning_rate).__name__ == 'WarmUp'\n"
            "assert int(m.optimizer.iterations) == 4\nprint('OK')")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.keras")], capture_output=True, text=True)
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-3000:]


@needs_tf
def test_tf_checkpoint_round_trips_mid_training(tmp_path):
    import tensorflow as tf

    straight = compiled(make_model())
    fit(straight, 4)
    first = compiled(make_model())
    fit(first, 2)
    prefix = tf.train.Checkpoint(model=first, optimizer=first.optimizer).save(str(tmp_path / "ckpt"))
    second = compiled(make_model())
    second.optimizer.build(second.trainable_variables) if not LEGACY else None
    status = tf.train.Checkpoint(model=second, optimizer=second.optimizer).restore(prefix)
    fit(second, 2)
    status.assert_consumed()
    for a, b in zip(straight.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)


DISTRIBUTED = textwrap.dedent("""
    import sys, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, sys.argv[1])
    import test_hfopt_adamweightdecay as t
    def train(strategy):
        with strategy.scope():
            model = t.compiled(t.make_model())
        t.fit(model, 2)
        return model.get_weights()
    single = train(tf.distribute.get_strategy())
    mirrored = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    print("OK")
""")


@needs_tf
def test_fit_under_mirrored_strategy_equals_single_device():
    out = subprocess.run([sys.executable, "-c", DISTRIBUTED, str(Path(__file__).parent)], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0 and "OK" in out.stdout, out.stderr[-3000:]


INVALID_CASES = [
    Case("AdamWeightDecay", "weight_decay_rate", "-0.1", ValueError, r"weight_decay_rate.*-0\.1",
         lambda: AdamWeightDecay(weight_decay_rate=-0.1)),
    Case("AdamWeightDecay", "include_in_weight_decay", "'bias'", TypeError, r"include_in_weight_decay.*'bias'",
         lambda: AdamWeightDecay(include_in_weight_decay="bias")),
    Case("AdamWeightDecay", "exclude_from_weight_decay", "[1]", TypeError, r"exclude_from_weight_decay.*\[1\]",
         lambda: AdamWeightDecay(exclude_from_weight_decay=[1])),
    Case("create_optimizer", "num_train_steps", "-1", ValueError, r"num_train_steps.*-1",
         lambda: create_optimizer(1e-3, -1, 0)),
    Case("create_optimizer", "num_warmup_steps", "-2", ValueError, r"num_warmup_steps.*-2",
         lambda: create_optimizer(1e-3, 10, -2)),
    Case("create_optimizer", "num_warmup_steps", "11 > 10", ValueError,
         r"num_warmup_steps must be <= num_train_steps \(10\), got 11",
         lambda: create_optimizer(1e-3, 10, 11)),
    Case("create_optimizer", "min_lr_ratio", "1.5", ValueError, r"min_lr_ratio.*1\.5",
         lambda: create_optimizer(1e-3, 10, 2, min_lr_ratio=1.5)),
    Case("create_optimizer", "power", "0", ValueError, r"power.*0", lambda: create_optimizer(1e-3, 10, 2, power=0)),
    Case("create_optimizer", "weight_decay_rate", "-1", ValueError, r"weight_decay_rate.*-1",
         lambda: create_optimizer(1e-3, 10, 2, weight_decay_rate=-1)),
    Case("create_optimizer", "include_in_weight_decay", "'bias'", TypeError, r"include_in_weight_decay.*'bias'",
         lambda: create_optimizer(1e-3, 10, 2, include_in_weight_decay="bias")),
    Case("get_optimizer('adamweightdecay')", "params", "[w]", TypeError, r"without parameters.*params=list",
         lambda: get_optimizer("adamweightdecay", [np.zeros(2)])),
    Case("AdamWeightDecay", "learning_rate", "nan", ValueError, r"learning_rate.*nan",
         lambda: AdamWeightDecay(learning_rate=float("nan"))),
    Case("AdamWeightDecay", "learning_rate", "-0.001", ValueError, r"learning_rate.*-0\.001",
         lambda: AdamWeightDecay(learning_rate=-0.001)),
    Case("AdamWeightDecay", "epsilon", "nan", ValueError, r"epsilon.*nan", lambda: AdamWeightDecay(epsilon=float("nan"))),
    Case("AdamWeightDecay", "beta_1", "1.0", ValueError, r"beta_1 must be a number in \[0, 1\), got 1\.0",
         lambda: AdamWeightDecay(beta_1=1.0)),
    Case("AdamWeightDecay", "beta_2", "inf", ValueError, r"beta_2.*inf", lambda: AdamWeightDecay(beta_2=float("inf"))),
    Case("AdamWeightDecay", "weight_decay_rate", "nan", ValueError, r"weight_decay_rate.*nan",
         lambda: AdamWeightDecay(weight_decay_rate=float("nan"))),
    Case("AdamWeightDecay", "weight_decay_rate", "1e308 (lr 0.001)", ValueError,
         r"weight_decay_rate must be <= 1 / learning_rate \(learning_rate 0\.001;.*got 1e\+308",
         lambda: AdamWeightDecay(learning_rate=0.001, weight_decay_rate=1e308)),
    Case("AdamWeightDecay", "weight_decay_rate", "20 (WarmUp peak 0.1)", ValueError,
         r"weight_decay_rate must be <= 1 / learning_rate \(learning_rate 0\.1;.*got 20",
         lambda: AdamWeightDecay(learning_rate=create_optimizer(0.1, 10, 2)[1], weight_decay_rate=20)),
    Case("AdamWeightDecay", "weight_decay", "0.1", TypeError,
         r"weight_decay must be left out \(AdamWeightDecay takes weight_decay_rate\), got float 0\.1",
         lambda: AdamWeightDecay(weight_decay=0.1)),
    Case("AdamWeightDecay", "clipnorm", "nan", ValueError, r"clipnorm.*nan", lambda: AdamWeightDecay(clipnorm=float("nan"))),
    Case("AdamWeightDecay", "pattern_matching", "'glob'", ValueError, r"pattern_matching.*'glob'",
         lambda: AdamWeightDecay(pattern_matching="glob")),
    Case("AdamWeightDecay", "exclude_from_weight_decay", "['(bias'] (regex)", ValueError,
         r"exclude_from_weight_decay.*invalid regex '\(bias'",
         lambda: AdamWeightDecay(exclude_from_weight_decay=["(bias"], pattern_matching="regex")),
    Case("create_optimizer", "init_lr", "nan", ValueError, r"init_lr.*nan", lambda: create_optimizer(float("nan"), 10, 2)),
    Case("create_optimizer", "init_lr", "0", ValueError, r"init_lr.*positive.*0", lambda: create_optimizer(0, 10, 2)),
    Case("create_optimizer", "num_train_steps", "10**30", ValueError, r"num_train_steps.*2\*\*63 - 1.*10{30}",
         lambda: create_optimizer(1e-3, 10**30, 2)),
    Case("create_optimizer", "num_train_steps", "10.0", TypeError, r"num_train_steps.*int.*10\.0",
         lambda: create_optimizer(1e-3, 10.0, 2)),
    Case("create_optimizer", "adam_epsilon", "nan", ValueError, r"adam_epsilon.*nan",
         lambda: create_optimizer(1e-3, 10, 2, adam_epsilon=float("nan"))),
    Case("create_optimizer", "adam_beta2", "1.5", ValueError, r"adam_beta2.*1\.5",
         lambda: create_optimizer(1e-3, 10, 2, adam_beta2=1.5)),
    Case("create_optimizer", "adam_clipnorm", "-1", ValueError, r"adam_clipnorm.*-1",
         lambda: create_optimizer(1e-3, 10, 2, adam_clipnorm=-1)),
    Case("create_optimizer", "min_lr_ratio", "nan", ValueError, r"min_lr_ratio.*nan",
         lambda: create_optimizer(1e-3, 10, 2, min_lr_ratio=float("nan"))),
    Case("create_optimizer", "power", "inf", ValueError, r"power.*inf",
         lambda: create_optimizer(1e-3, 10, 2, power=float("inf"))),
    Case("get_scheduler('linear', keras Adam)", "optimizer.learning_rate", "nan", ValueError,
         r"learning_rate.*nan",
         lambda: get_scheduler("linear", keras.optimizers.Adam(float("nan")), num_warmup_steps=2,
                               num_training_steps=10)),
    Case("create_optimizer", "weight_decay_rate", "1e308", ValueError,
         r"weight_decay_rate must be <= 1 / init_lr \(init_lr 0\.001;.*got 1e\+308",
         lambda: create_optimizer(1e-3, 10, 2, weight_decay_rate=1e308)),
]


@parametrize(INVALID_CASES)
def test_invalid_input(case):
    check_case(case)



def test_plugin_conforms():
    """The conformance kit third parties run (tests/core/test_core_conformance.py leaves this folder to us)."""
    from hfopt_core.testing import check_plugin

    specs = check_plugin("hfopt_adamweightdecay.plugin", distribution="hfopt-adamweightdecay")
    assert [s.name for s in specs] == ["adamweightdecay"]


README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.skipif(LEGACY, reason="the README's example is Keras 3 code (tf-keras: import tf_keras as keras)")
def test_the_readme_example_runs():
    from hfopt_core.testing import run_readme_examples

    run_readme_examples(README)
