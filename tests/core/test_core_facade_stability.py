"""What griffe's check (test_core_api_stability.py) cannot see: the names the core facade exports
lazily from the installed plugins (``from hfopt_core import AdamW``) and the registry names of
hfopt-core 0.1.0, as its catalog (``hfopt_core/catalog.py`` at 57484dd) published them. Each must
still be exported by, or registered from, the same distribution."""
from __future__ import annotations

import importlib

import pytest

import hfopt_core

#: hfopt-core 0.1.0's catalog: distribution -> (components "kind:name", facade names)
RELEASED_0_1 = {
    "hfopt-adamw": (("optimizer:adamw",), ("AdamW",)),
    "hfopt-adafactor": (("optimizer:adafactor", "schedule:adafactor"),
                        ("Adafactor", "AdafactorSchedule", "get_adafactor_schedule")),
    "hfopt-adamweightdecay": (("optimizer:adamweightdecay",), ("AdamWeightDecay", "create_optimizer")),
    "hfopt-warmup": (("schedule:warmup",), ("WarmUp",)),
    "hfopt-gradient-accumulator": (("accumulator:gradient_accumulator",), ("GradientAccumulator",)),
    "hfopt-schedule-constant": (("schedule:constant",), ("get_constant_schedule",)),
    "hfopt-schedule-constant-with-warmup": (("schedule:constant_with_warmup",), ("get_constant_schedule_with_warmup",)),
    "hfopt-schedule-linear": (("schedule:linear",), ("get_linear_schedule_with_warmup",)),
    "hfopt-schedule-cosine": (("schedule:cosine",), ("get_cosine_schedule_with_warmup",)),
    "hfopt-schedule-cosine-with-restarts": (("schedule:cosine_with_restarts",),
                                            ("get_cosine_with_hard_restarts_schedule_with_warmup",)),
    "hfopt-schedule-polynomial": (("schedule:polynomial",), ("get_polynomial_decay_schedule_with_warmup",)),
    "hfopt-schedule-inverse-sqrt": (("schedule:inverse_sqrt",), ("get_inverse_sqrt_schedule",)),
    "hfopt-schedule-reduce-lr-on-plateau": (("schedule:reduce_lr_on_plateau",), ("get_reduce_on_plateau_schedule",)),
    "hfopt-schedule-cosine-with-min-lr": (("schedule:cosine_with_min_lr",),
                                          ("get_cosine_with_min_lr_schedule_with_warmup",)),
    "hfopt-schedule-cosine-warmup-with-min-lr": (("schedule:cosine_warmup_with_min_lr",),
                                                 ("get_cosine_with_min_lr_schedule_with_warmup_lr_rate",)),
    "hfopt-schedule-warmup-stable-decay": (("schedule:warmup_stable_decay", "schedule:wsd"), ("get_wsd_schedule",)),
    "hfopt-schedule-greedy": (("schedule:greedy",), ("get_greedy_schedule", "GreedyLR", "StreamingAverage")),
}


def facade_breaks(manager) -> list[str]:
    """Every 0.1.0 facade name or registry name that ``manager`` no longer provides from its distribution."""
    from hfopt_core._registry import split_source

    breaks = []
    for distribution, (components, exports) in RELEASED_0_1.items():
        for component in components:
            kind, name = component.split(":")
            sources = {split_source(s.source)[0] for s in manager.specs(kind) if name in s.names}
            if distribution not in sources:
                breaks.append(f"{component} is no longer registered by {distribution} (by: {sorted(sources)})")
        for export in exports:
            try:
                target = manager.export_target(export)
            except KeyError:
                breaks.append(f"hfopt_core.{export} is no longer exported (0.1.0: by {distribution})")
                continue
            package = target.split(":")[0].split(".")[0]
            if package != distribution.replace("-", "_"):
                breaks.append(f"hfopt_core.{export} now comes from {target}, not {distribution}")
    return breaks


def test_every_0_1_facade_and_registry_name_is_still_provided():
    manager = hfopt_core.get_manager()
    installed = {p.distribution for p in hfopt_core.list_plugins() if p.status == "ok"}
    missing = sorted(set(RELEASED_0_1) - installed)
    assert not missing, f"the dev environment lacks {missing}"
    assert facade_breaks(manager) == []


@pytest.mark.parametrize("distribution", sorted(RELEASED_0_1))
def test_each_0_1_facade_name_is_the_plugins_own_object(distribution):
    module = importlib.import_module(distribution.replace("-", "_"))
    for export in RELEASED_0_1[distribution][1]:
        assert getattr(hfopt_core, export) is getattr(module, export), export


def test_the_check_sees_a_plugin_that_stops_exporting_a_name(site, monkeypatch):
    # the check itself: with hfopt-schedule-cosine disabled, its 0.1 names are reported missing
    monkeypatch.setenv("HFOPT_DISABLE_PLUGINS", "hfopt-schedule-cosine")
    breaks = facade_breaks(hfopt_core.get_manager())
    assert breaks == ["schedule:cosine is no longer registered by hfopt-schedule-cosine (by: [])",
                      "hfopt_core.get_cosine_schedule_with_warmup is no longer exported (0.1.0: by "
                      "hfopt-schedule-cosine)"]
