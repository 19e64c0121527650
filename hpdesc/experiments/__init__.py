"""Experiments: sweep files, sweeps (grid / greedy) and comparison reports of runs.

``sweepfile`` parses and validates a sweep TOML file, ``sweep`` plans and runs it (skipping
finished runs, resuming interrupted ones), ``compare`` turns run directories into the report's
tables and learning-curve figures.
"""

from hpdesc.experiments.sweepfile import Axis, SweepSpec, load_sweep

__all__ = ["Axis", "SweepSpec", "load_sweep"]
