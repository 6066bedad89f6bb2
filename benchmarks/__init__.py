"""Odin's benchmarks: scripts that measure speed and memory against the baselines a user would pick.

Each module runs with ``python -m benchmarks.NAME`` from the repository root, prints a table with ratios
first and writes a JSON file (machine, date, versions, figures) under ``benchmarks/results/``. They are
not timed tests: ``tests/test_benchmarks.py`` runs each one at toy size so none rots.
"""
