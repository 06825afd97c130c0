"""The plugin API's validation helper: one message form, "<argument> must be <what>, got <value>"."""
from __future__ import annotations

import math

import pytest

from hfopt_core.plugin import argument_error, check_number


@pytest.mark.parametrize("kwargs, value, message", [
    ({"minimum": 0, "integer": True, "what": "number of steps"}, -5,
     "num_warmup_steps must be a non-negative number of steps, got -5"),
    ({"minimum": 0, "below": 1}, 1.0, "num_warmup_steps must be a number in [0, 1), got 1.0"),
    ({"minimum": 0, "maximum": 1}, 1.5, "num_warmup_steps must be a number in [0, 1], got 1.5"),
    ({"positive": True, "maximum": 1, "what": "ratio"}, 0.0, "num_warmup_steps must be a ratio in (0, 1], got 0.0"),
    ({"below": 1}, 2, "num_warmup_steps must be a number < 1, got 2"),
    ({"maximum": 10, "what": "count"}, 11, "num_warmup_steps must be a count <= 10, got 11"),
    ({"positive": True}, -1e-3, "num_warmup_steps must be a positive number, got -0.001"),
    ({"minimum": 0, "below": 1}, math.nan, "num_warmup_steps must be a finite number, got nan"),
])
def test_out_of_range_values_name_the_argument_the_rule_and_the_value(kwargs, value, message):
    with pytest.raises(ValueError) as caught:
        check_number("num_warmup_steps", value, **kwargs)
    assert str(caught.value) == message


@pytest.mark.parametrize("kwargs, value", [({"minimum": 0, "below": 1}, 0.0), ({"minimum": 0, "below": 1}, 0.999),
                                           ({"positive": True, "maximum": 1}, 1), ({"below": 1}, -5)])
def test_values_inside_the_bounds_come_back_as_plain_numbers(kwargs, value):
    result = check_number("beta", value, **kwargs)
    assert result == value and type(result) in (int, float)


def test_wrong_types_are_type_errors_in_the_same_form():
    with pytest.raises(TypeError, match=r"^beta must be a real number \(number\), got str '0.9'$"):
        check_number("beta", "0.9", minimum=0, below=1)
    with pytest.raises(TypeError, match=r"^steps must be an int \(count\), got float 1.5$"):
        check_number("steps", 1.5, integer=True, what="count")


def test_zero_d_arrays_and_tensors_are_numbers_and_bigger_ones_are_named_by_shape():
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    assert check_number("beta", np.float32(0.5), below=1) == 0.5
    assert check_number("beta", torch.tensor(0.25), below=1) == 0.25
    with pytest.raises(TypeError, match=r"beta must be a real number \(number\), got Tensor of shape \(2,\)"):
        check_number("beta", torch.tensor([0.1, 0.2]), below=1)


def test_argument_error_gives_the_same_form_for_any_rule():
    error = argument_error("mode", "'min' or 'max'", "avg")
    assert type(error) is ValueError and str(error) == "mode must be 'min' or 'max', got 'avg'"
    error = argument_error("betas", "a pair of numbers", [0.9], wrong_type=True)
    assert type(error) is TypeError and str(error) == "betas must be a pair of numbers, got list [0.9]"


@pytest.mark.parametrize("kwargs", [{}, {"integer": True}, {"integer": True, "maximum": 10}, {"minimum": 0}])
@pytest.mark.parametrize("value", [10**400, -(10**400)], ids=["10**400", "-10**400"])
def test_integers_beyond_float_range_are_value_errors_shown_by_their_size(kwargs, value):
    with pytest.raises(ValueError, match=r"^steps must be a number within float range .*, got an integer of 401 "
                                         r"digits \((-)?100000000000\.\.\.\)$"):
        check_number("steps", value, **kwargs)


def test_large_integers_within_float_range_stay_exact():
    assert check_number("steps", 10**30, integer=True) == 10**30
    assert check_number("steps", 2**63 - 1, integer=True, minimum=0) == 2**63 - 1
