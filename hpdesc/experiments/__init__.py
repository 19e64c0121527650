"""Experiments: sweep files, sweeps (grid / greedy) and comparison reports of runs.

``sweepfile`` parses and validates a sweep TOML file, ``sweep`` plans and runs it (skipping
finished runs, resuming interrupted ones) and keeps its ``manifest`` (``sweep.json``) up to date;
``compare`` turns run directories into the report's tables and learning-curve figures
(``comparison`` collects the runs, ``curves`` draws the overlays). ``names`` shortens keys and
values for run names and columns; ``runinfo`` reads a run directory.
"""

from hpdesc.experiments.sweepfile import Axis, SweepSpec, load_sweep

__all__ = ["Axis", "SweepSpec", "load_sweep"]
