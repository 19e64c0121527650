"""Collect runs for comparison: one row per run (and per baseline), the swept settings as columns.

Runs come from run directories, folders of run directories, or sweep directories (whose
``sweep.json`` names the axes). For plain run directories the columns are the config keys whose
values differ between the runs. :mod:`hpdesc.experiments.compare` renders and writes the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from hpdesc.config import FIXED_SECTIONS
from hpdesc.errors import UsageError
from hpdesc.experiments.manifest import MANIFEST, read_manifest
from hpdesc.experiments.names import fmt_value
from hpdesc.experiments.runinfo import TASKS, RunInfo, read_run
from hpdesc.experiments.sweepfile import METRICS


@dataclass
class Row:
    """One line of the comparison: a run (or a baseline benchmarked alongside the runs)."""

    name: str
    path: Path | None
    settings: dict  # axis column -> shown value
    status: str
    metrics: dict
    info: RunInfo | None = None
    step: int | None = None
    choice: dict = field(default_factory=dict)
    baseline: bool = False
    error: str | None = None


@dataclass
class Comparison:
    """The runs to compare, their setting columns and the metric that ranks them."""

    rows: list[Row]
    columns: list[str]  # axis / setting columns
    metric: str = "total"
    title: str = "Run comparison"
    description: str = ""
    manifest: dict | None = None
    sources: list[str] = field(default_factory=list)

    @property
    def lower_is_better(self) -> bool:
        return METRICS.get(self.metric, "max") == "min"

    def runs(self) -> list[Row]:
        return [r for r in self.rows if not r.baseline]

    def metric_columns(self) -> list[str]:
        have = {k for r in self.rows for k in r.metrics}
        cols = [t for t in (*TASKS, "total") if t in have]
        cols += [p for p in ("psnr", "psnr_e", "psnr_h", "psnr_t") if p in have]
        losses = [m for m in ("val_loss_denoiser", "val_loss_descriptor") if m in have]
        if self.metric in losses or not cols:
            cols += [m for m in losses if m == self.metric or not any(t in have for t in TASKS)]
        if self.metric in have and self.metric not in cols:
            cols.append(self.metric)
        return cols

    def best(self) -> Row | None:
        # NaN (a diverged run) is never best: max() over NaN depends on the rows' order
        cands = [r for r in self.runs() if r.status == "finished" and finite_metric(r.metrics.get(self.metric))]
        if not cands:
            return None
        sign = -1.0 if self.lower_is_better else 1.0
        return max(cands, key=lambda r: sign * r.metrics[self.metric])


def finite_metric(value) -> bool:
    """A usable metric value: a number that is not NaN or infinite."""
    return isinstance(value, (int, float)) and math.isfinite(value)


def collect(paths: Iterable, metric: str | None = None, baselines: bool = True) -> Comparison:
    """Gather the runs under ``paths`` (run, sweep, or a folder of runs) into a Comparison."""
    rows: list[Row] = []
    loose: list[Row] = []
    manifest = None
    axis_columns: list[str] = []
    sources = []
    for p in map(Path, paths):
        if (p / MANIFEST).is_file():
            data = read_manifest(p)
            manifest = manifest or data
            sources.append(str(p))
            for ax in data.get("axes", []):
                if ax["key"] not in axis_columns:
                    axis_columns.append(ax["key"])
            for e in data.get("runs", []):
                run_path = p / e.get("path", f"runs/{e['name']}")
                info = read_run(run_path)
                status = info.status
                if status != "finished" and e.get("status") == "failed":
                    status = "failed"
                axes = [a["key"] for a in data.get("axes", [])]
                choice = {axes.index(k): v for k, v in (e.get("choice") or {}).items() if k in axes}
                settings = {k: (e.get("settings") or {}).get(k, "(base)") for k in axes}
                name = e["name"] + (f" (= {e['same_as']})" if e.get("same_as") else "")
                rows.append(Row(name, run_path, settings, status, info.metrics(), info,
                                e.get("step"), choice, error=e.get("error")))
        elif (p / "config.toml").is_file():
            loose.append(_loose_row(p))
            sources.append(str(p))
        elif p.is_dir() and any(p.glob("*/config.toml")):
            for c in sorted(p.glob("*/config.toml")):
                loose.append(_loose_row(c.parent))
            sources.append(str(p))
        else:
            raise UsageError(f"{p}: not a run directory (no config.toml) nor a sweep directory (no sweep.json)",
                             hint="pass run directories (runs/...) or a sweep's out directory")
    if loose:
        columns = _differing_keys([r.info for r in loose])
        for r in loose:
            flat = _flatten(r.info.config)
            r.settings = {k: fmt_value(flat.get(k, "-")) for k in columns}
        axis_columns += [c for c in columns if c not in axis_columns]
        rows += loose
    if not rows:
        raise UsageError("no runs to compare")
    names: dict[str, int] = {}
    for r in rows:  # same names from different sweeps: keep them apart
        names[r.name] = names.get(r.name, 0) + 1
    for r in rows:
        if names[r.name] > 1 and r.path is not None:
            r.name = f"{r.path.parent.parent.name if r.path.parent.name == 'runs' else r.path.parent.name}/{r.name}"
    if baselines:
        rows += _baseline_rows(rows)
    title = (manifest or {}).get("title") or "Run comparison"
    metric = metric or (manifest or {}).get("metric") or "total"
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}", hint=f"metrics: {', '.join(METRICS)}")
    return Comparison(rows, axis_columns, metric, title, (manifest or {}).get("description", ""), manifest, sources)


def _loose_row(path: Path) -> Row:
    info = read_run(path)
    return Row(path.name, path, {}, info.status, info.metrics(), info)


def _flatten(cfg: dict) -> dict:
    out = {}
    for sec, body in cfg.items():
        if sec == "provenance" or not isinstance(body, dict):
            continue
        for k, v in body.items():
            out[sec if k == "name" and sec not in FIXED_SECTIONS else f"{sec}.{k}"] = v
    return out


def _differing_keys(infos: Sequence[RunInfo]) -> list[str]:
    flats = [_flatten(i.config) for i in infos]
    keys: list[str] = []
    for f in flats:
        keys += [k for k in f if k not in keys]
    if len(flats) < 2:
        return []
    return [k for k in keys if len({repr(f.get(k)) for f in flats}) > 1]


def _baseline_rows(rows: list[Row]) -> list[Row]:
    """The baselines benchmarked with the runs (the first run that has each).

    Descriptor baselines (raw, sift) show their mAP; denoiser baselines (nlmeans) their PSNR per
    level, which does not depend on the run (their mAP with each run's descriptor stays in the
    run's benchmark.json).
    """
    seen: dict[str, Row] = {}
    for r in rows:
        if r.info is None or r.status != "finished":
            continue
        den_bases = r.info.denoising_baselines()
        for name, head in r.info.baselines().items():
            # a denoiser baseline's mAP (nlmeans+hardnet) used that run's own descriptor: not a row
            # that stands for every run; its PSNR per level (below) does
            if name in seen or not head or name.partition("+")[0] in den_bases:
                continue
            m = {t: float(head[t]) for t in TASKS if t in head}
            if m:
                m["total"] = sum(m.values()) / len(m)
            seen[name] = Row(f"{name} (baseline)", None, {}, "finished", m, baseline=True)
        for name, psnr in den_bases.items():  # nlmeans: PSNR per level of the test patches, as the runs'
            if psnr and name not in seen:
                seen[name] = Row(f"{name} (baseline)", None, {}, "finished", dict(psnr), baseline=True)
    return list(seen.values())


__all__ = ["Comparison", "Row", "collect"]
