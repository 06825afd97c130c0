"""Spec validation: a malformed spec fails where the plugin author wrote it."""
from __future__ import annotations

import pytest

from hfopt_core import OptimizerSpec, ScheduleSpec


def test_valid_spec_is_frozen_and_normalized():
    spec = ScheduleSpec(name="mine", factory="pkg.mod:make", frameworks=["python", "torch"],
                        aliases=["my_alias"], exports={"make": "pkg.mod:make"})
    assert spec.frameworks == ("python", "torch") and spec.names == ("mine", "my_alias")
    assert spec.takes == ("num_warmup_steps", "num_training_steps") and spec.accepts_kwargs
    with pytest.raises(AttributeError):
        spec.name = "other"
    with pytest.raises(TypeError):
        spec.exports["x"] = "a:b"
    assert spec.with_source("pkg==1").source == "pkg==1"


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": "Cosine"}, "names must match"),
    ({"aliases": ("bad-alias",)}, "names must match"),
    ({"factory": "no_colon"}, "factory must be an import string"),
    ({"frameworks": ()}, "frameworks must be a non-empty subset"),
    ({"frameworks": ("jax",)}, "frameworks must be a non-empty subset"),
    ({"exports": {"not valid": "a:b"}}, "is not an identifier"),
    ({"exports": {"ok": "nope"}}, r"exports\['ok'\] must be an import string"),
    ({"takes": ("num_epochs",)}, "takes must be a subset"),
    ({"takes": ("num_warmup_steps",)}, "requires must be a subset of takes"),
])
def test_invalid_schedule_specs(kwargs, match):
    base = {"name": "mine", "factory": "pkg:make", "frameworks": ("python",)}
    with pytest.raises(ValueError, match=match):
        ScheduleSpec(**{**base, **kwargs})


def test_kinds():
    assert ScheduleSpec.kind == "schedule" and OptimizerSpec.kind == "optimizer"
