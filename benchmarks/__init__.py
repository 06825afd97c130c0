"""hfopt benchmarks: ``make bench`` (``python -m benchmarks``) prints one ratio table."""
