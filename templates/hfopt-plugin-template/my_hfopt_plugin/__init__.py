"""my-hfopt-plugin: an example third-party hfopt plugin (a schedule and a torch optimizer).

The package imports lazily: ``import my_hfopt_plugin.plugin`` (what hfopt's discovery does)
runs this file, so it must not import torch. ``lazy_exports`` imports each public name's module
on first use, and says which extra to install when torch is missing.
"""
from hfopt_core.plugin import lazy_exports

__all__ = ["SignSGD", "get_exponential_schedule"]

__getattr__, __dir__ = lazy_exports(__name__, {
    "get_exponential_schedule": "my_hfopt_plugin.schedule",
    "SignSGD": "my_hfopt_plugin.optimizer",
}, distribution="my-hfopt-plugin")
