"""WarmUp: transformers 4.57.6's numbers, a config that restores the nested schedule, the warmup schedule by name."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from keras_env import LEGACY, keras, to_numpy  # noqa: E402
from invalid_cases import Case, check_case, parametrize  # noqa: E402

from hfopt_core import FrameworkError, get_scheduler  # noqa: E402
from hfopt_warmup import WarmUp  # noqa: E402


def decay(lr=1e-3):
    return keras.optimizers.schedules.PolynomialDecay(lr, 10, end_learning_rate=1e-5, power=2.0)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_same_values_as_transformers(power):
    from transformers.optimization_tf import WarmUp as HFWarmUp

    import tf_keras

    hf_decay = tf_keras.optimizers.schedules.PolynomialDecay(1e-3, 10, end_learning_rate=1e-5, power=2.0)
    hf = HFWarmUp(1e-3, hf_decay, 4, power=power)
    mine = WarmUp(1e-3, decay(), 4, power=power)
    got = [float(to_numpy(mine(s))) for s in range(18)]
    want = [float(hf(s)) for s in range(18)]
    if LEGACY:
        assert got == want
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6)


def test_from_config_restores_the_nested_schedule_and_works_after_warmup():
    schedule = WarmUp(1e-3, decay(), 4, power=1.5, name="wu")
    config = keras.optimizers.schedules.serialize(schedule)
    restored = keras.optimizers.schedules.deserialize(config)  # no custom_objects
    assert isinstance(restored, WarmUp) and isinstance(restored.decay_schedule_fn, type(schedule.decay_schedule_fn))
    assert restored.get_config() == schedule.get_config()
    for step in (0, 2, 4, 9, 20):  # past the warmup: transformers' restored WarmUp fails here
        assert float(to_numpy(restored(step))) == float(to_numpy(schedule(step)))


def test_warmup_schedule_by_name_installs_on_the_optimizer():
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    schedule = get_scheduler("warmup", optimizer, num_warmup_steps=4, num_training_steps=14)
    assert isinstance(schedule, WarmUp)
    installed = optimizer._hyper["learning_rate"] if hasattr(optimizer, "_hyper") else optimizer._learning_rate
    assert installed is schedule
    want = [1e-3 * s / 4 if s < 4 else 1e-3 * max(0.0, 1 - (s - 4) / 10) for s in range(16)]
    np.testing.assert_allclose([float(to_numpy(schedule(s))) for s in range(16)], want, rtol=1e-6, atol=1e-12)


def test_warmup_is_keras_only():
    with pytest.raises(FrameworkError, match="supports keras"):
        get_scheduler("warmup", None, num_warmup_steps=2)


INVALID_CASES = [
    Case("WarmUp", "warmup_steps", "-1", ValueError, r"warmup_steps.*-1", lambda: WarmUp(1e-3, decay(), -1)),
    Case("WarmUp", "warmup_steps", "2.5", TypeError, r"warmup_steps.*2\.5", lambda: WarmUp(1e-3, decay(), 2.5)),
    Case("WarmUp", "decay_schedule_fn", "0.1", TypeError, r"decay_schedule_fn.*0\.1", lambda: WarmUp(1e-3, 0.1, 2)),
    Case("WarmUp", "power", "0", ValueError, r"power.*0", lambda: WarmUp(1e-3, decay(), 2, power=0)),
    Case("WarmUp", "initial_learning_rate", "-1.0", ValueError, r"initial_learning_rate.*-1\.0",
         lambda: WarmUp(-1.0, decay(), 2)),
    Case("WarmUp", "initial_learning_rate", "nan", ValueError, r"initial_learning_rate.*nan",
         lambda: WarmUp(float("nan"), decay(), 2)),
    Case("get_scheduler('warmup')", "num_warmup_steps", "-3", ValueError, r"num_warmup_steps.*-3",
         lambda: get_scheduler("warmup", keras.optimizers.Adam(1e-3), num_warmup_steps=-3)),
    Case("get_scheduler('warmup')", "num_training_steps", "3 < 5", ValueError,
         r"num_training_steps must be >= num_warmup_steps \(5\), got 3",
         lambda: get_scheduler("warmup", keras.optimizers.Adam(1e-3), num_warmup_steps=5, num_training_steps=3)),
    Case("WarmUp", "name", "1", TypeError, r"name must be a str or None, got int 1", lambda: WarmUp(1e-3, decay(), 2, name=1)),
]


@parametrize(INVALID_CASES)
def test_invalid_input(case):
    check_case(case)



def test_plugin_conforms():
    """The conformance kit third parties run (tests/core/test_core_conformance.py leaves this folder to us)."""
    from hfopt_core.testing import check_plugin

    specs = check_plugin("hfopt_warmup.plugin", distribution="hfopt-warmup")
    assert [s.name for s in specs] == ["warmup"]


README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.skipif(LEGACY, reason="the README's example is Keras 3 code (tf-keras: import tf_keras as keras)")
def test_the_readme_example_runs():
    from hfopt_core.testing import run_readme_examples

    run_readme_examples(README)
