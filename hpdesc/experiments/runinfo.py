"""Read what a finished (or unfinished) run directory holds: status, scores, learning curves.

Metrics (``hpdesc.experiments.sweepfile.METRICS``): ``verification``, ``matching``,
``retrieval`` (mAP of the run's descriptor on the test split, fractions in [0, 1]), ``total``
(their mean), ``psnr`` (dB of the denoised test patches), ``psnr_e`` / ``psnr_h`` / ``psnr_t`` (the
same per noise level, from the run's denoising table), ``val_loss_<stage>`` (the lowest
validation loss over the stage's epochs) and ``loss_<stage>`` (the last epoch's training loss).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from hpdesc.config import TASKS
from hpdesc.training.callbacks import read_history
from hpdesc.training.run import RunDir

STAGES = ("denoiser", "descriptor")


PSNR_LEVELS = ("e", "h", "t")  # psnr_e, psnr_h, psnr_t: denoised PSNR (dB) per noise level


def level_psnr(rows: dict) -> dict:
    """``{"psnr_e": dB, "psnr_h": dB, "psnr_t": dB}`` from a denoising table's rows (those it has)."""
    out = {}
    for lv in PSNR_LEVELS:
        v = (rows.get(lv) or {}).get("psnr_denoised") if isinstance(rows, dict) else None
        if isinstance(v, (int, float)):
            out[f"psnr_{lv}"] = float(v)
    return out


def is_complete(path) -> bool:
    """A run is complete when its state says finished (and its benchmark, if enabled, exists)."""
    run = RunDir(path)
    if not run.config.exists():
        return False
    try:
        state = run.state()
    except Exception:  # noqa: BLE001 - a corrupt state file means "not complete"
        return False
    if not state.get("finished"):
        return False
    if state.get("benchmark_done") and not run.benchmark.exists():
        return False
    return True


def has_started(path) -> bool:
    return RunDir(path).config.exists()


@dataclass
class RunInfo:
    """A run directory's results as plain data."""

    path: Path
    status: str  # finished, interrupted, missing
    config: dict = field(default_factory=dict)
    benchmark: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)  # stage -> list of rows

    @property
    def descriptor_name(self) -> str | None:
        return self.benchmark.get("run")

    def headline(self) -> dict:
        name = self.benchmark.get("run")
        res = self.benchmark.get("results", {}).get(name, {}) if name else {}
        return dict(res.get("headline", {}))

    def denoising_baselines(self) -> dict[str, dict]:
        """``{denoiser baseline: level PSNR metrics}`` from the run's denoising table (not the run's own)."""
        den = (self.config.get("denoiser") or {}).get("name")
        return {k: level_psnr(rows) for k, rows in (self.benchmark.get("denoising") or {}).items()
                if k != den and isinstance(rows, dict)}

    def baselines(self) -> dict[str, dict]:
        """``{baseline name: headline}`` of the baselines benchmarked with the run."""
        name = self.benchmark.get("run")
        return {k: dict(v.get("headline", {})) for k, v in self.benchmark.get("results", {}).items() if k != name}

    def metrics(self) -> dict:
        out: dict = {}
        head = self.headline()
        for t in TASKS:
            if t in head:
                out[t] = float(head[t])
        vals = [out[t] for t in TASKS if t in out]
        if vals:
            out["total"] = sum(vals) / len(vals)
        psnr = (self.benchmark.get("psnr") or {}).get("denoised")
        if psnr is not None:
            out["psnr"] = float(psnr)
        den = (self.config.get("denoiser") or {}).get("name")
        out.update(level_psnr((self.benchmark.get("denoising") or {}).get(den) or {}))
        for stage, rows in self.history.items():
            val = [r["val_loss"] for r in rows if r.get("val_loss") is not None]
            if val:  # the lowest number; NaN (a diverged epoch) only if every epoch was NaN
                out[f"val_loss_{stage}"] = float(min(val, key=lambda v: (math.isnan(v), v)))
            if rows and rows[-1].get("loss") is not None:
                out[f"loss_{stage}"] = float(rows[-1]["loss"])
        return out


def read_run(path) -> RunInfo:
    """Load a run directory's config, benchmark.json and history CSVs (what exists of them)."""
    from hpdesc import config as C

    run = RunDir(path)
    if not run.config.exists():
        return RunInfo(Path(path), "missing")
    try:
        cfg = C.read_toml(run.config)
    except Exception:  # noqa: BLE001 - report what can be read
        cfg = {}
    bench = {}
    if run.benchmark.exists():
        try:
            bench = json.loads(run.benchmark.read_text(encoding="utf-8"))
        except ValueError:
            bench = {}
        if not isinstance(bench, dict):  # `[]`, `null`: valid JSON, but no results
            bench = {}
    hist = {s: read_history(run.history(s)) for s in STAGES if run.history(s).exists()}
    status = "finished" if is_complete(path) else "interrupted"
    return RunInfo(Path(path), status, cfg, bench, hist)
