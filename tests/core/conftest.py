"""tests/core: ``plugin_0_1/`` holds a third-party plugin project (with its own tests), installed and
tested in a subprocess by ``test_core_plugin_0_1.py``, never collected here."""

collect_ignore = ["plugin_0_1"]
