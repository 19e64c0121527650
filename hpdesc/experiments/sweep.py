"""Run a sweep: expand a grid (or walk the axes greedily), skip finished runs, resume the rest.

Layout of a sweep directory::

    SWEEP/sweep.json            manifest: axes, every run's settings, status and metrics, greedy picks
    SWEEP/runs/<name>/          one run directory per setting (hpdesc train --out), named from the
                                settings, e.g. ``dopt.lr-0.01__den.alpha-0.1``
    SWEEP/configs/<name>.toml   the run's config as handed to a subprocess (``--jobs N``)
    SWEEP/logs/<name>.log       a subprocess run's output
    SWEEP/report/               compare's table, learning curves and report.md

The manifest is rewritten atomically after every run, so an interrupted sweep loses nothing: run
the same command again and finished runs are skipped, an interrupted run resumes from its last
epoch checkpoint (``hpdesc train --resume``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from hpdesc import config as C
from hpdesc.atomic import make_dirs, write_text_atomic
from hpdesc.errors import ConfigError, HpdescError
from hpdesc.experiments.manifest import FORMAT, FORMAT_VERSION, MANIFEST
from hpdesc.experiments.runinfo import has_started, is_complete, read_run
from hpdesc.experiments.names import short_key
from hpdesc.experiments.sweepfile import SweepSpec

MAX_NAME = 120


@dataclass
class PlannedRun:
    """One run of a sweep: which value of each axis it takes, its config and directory."""

    name: str
    choice: dict  # axis index -> value index (axes at their base value are absent)
    config: C.RunConfig
    path: Path
    step: int | None = None  # greedy: the axis being swept
    same_as: str | None = None  # an earlier run with exactly this config (not run again)
    status: str = "pending"
    error: str | None = None
    metrics: dict = field(default_factory=dict)
    seconds: float | None = None

    def settings(self, spec: SweepSpec) -> dict:
        return {spec.axes[a].key: spec.axes[a].labels[i] for a, i in sorted(self.choice.items())}

    def signature(self) -> str:
        return config_signature(self.config)


def config_signature(cfg: C.RunConfig) -> str:
    return json.dumps(cfg.to_dict(provenance=False), sort_keys=True, default=str)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+=,-]+", "_", text).strip("._") or "x"


def run_name(spec: SweepSpec, choice: Mapping[int, int]) -> str:
    """Short, filesystem-safe, deterministic name from a run's axis settings.

    ``{denoiser_optimizer.learning_rate: 0.01}`` -> ``dopt.lr-0.01``; several axes are joined
    with ``__``; the base configuration alone is ``base``. Over-long names keep a prefix and a hash.
    """
    if not choice:
        return "base"
    parts = [f"{short_key(spec.axes[a].key)}-{_safe(spec.axes[a].labels[i])}" for a, i in sorted(choice.items())]
    name = "__".join(parts)
    if len(name) > MAX_NAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        name = name[:MAX_NAME - 9].rstrip("_.-") + "-" + digest
    return name


# -- runners ------------------------------------------------------------------------------------------
Runner = Callable[[PlannedRun, bool], Mapping[str, Any]]


def inprocess_runner(reporter=None) -> Runner:
    """Train in this process with the Python API (one run at a time)."""

    def run(item: PlannedRun, resume: bool) -> dict:
        from hpdesc import api

        try:
            if resume:
                res = api.train(resume=item.path, progress=reporter)
            else:
                res = api.train(item.config, out=item.path, progress=reporter)
            return {"status": res.status}
        except HpdescError as exc:
            return {"status": "failed", "error": exc.message}
        finally:
            try:
                import keras

                keras.backend.clear_session()  # free the finished run's graphs before the next
            except Exception:  # noqa: BLE001
                pass

    return run


def subprocess_runner(sweep_dir: Path, threads: int | None = None) -> Runner:
    """Train each run in a child ``python -m hpdesc train`` (for ``--jobs N``); output to logs/."""

    def run(item: PlannedRun, resume: bool) -> dict:
        logs = make_dirs(sweep_dir / "logs")
        cmd = [sys.executable, "-m", "hpdesc", "train"]
        if resume:
            cmd += ["--resume", str(item.path)]
        else:
            cfg_file = sweep_dir / "configs" / f"{item.name}.toml"
            item.config.save(cfg_file)
            cmd += ["--config", str(cfg_file), "--out", str(item.path)]
        env = dict(os.environ, HPDESC_NO_PROGRESS="1")
        if threads:
            for var in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
                env.setdefault(var, str(threads))
            env.setdefault("TF_NUM_INTEROP_THREADS", "1")
        log = logs / f"{item.name}.log"
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"$ {' '.join(cmd)}\n")
            f.flush()
            rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env).returncode
        if rc == 0 and is_complete(item.path):
            return {"status": "finished"}
        if rc == 130:
            raise KeyboardInterrupt
        text = log.read_text(encoding="utf-8", errors="replace").splitlines()
        errors = [ln.split("error:", 1)[1].strip() for ln in text if "error:" in ln]
        if rc == 0:
            return {"status": "interrupted"}
        return {"status": "failed", "error": (errors[-1] if errors else f"exit code {rc}") + f" (log: {log})"}

    return run


# -- the sweep -----------------------------------------------------------------------------------------
class Sweep:
    """Plans and runs a validated :class:`SweepSpec` into ``spec.out``.

    ``runner(item, resume)`` trains one run and returns ``{"status": ..., "error": ...,
    "metrics": ...}`` (metrics are read from the run directory when absent); tests inject a fake.
    ``log(message)`` receives one line per event.
    """

    def __init__(self, spec: SweepSpec, *, jobs: int = 1, runner: Runner | None = None,
                 log: Callable[[str], None] | None = None, retry_failed: bool = False,
                 data_path: str | Path | None = None, check_existing: bool = True):
        self.spec = spec
        self.dir = Path(spec.out)
        self.jobs = max(1, int(jobs))
        self.log = log or (lambda msg: None)
        self.retry_failed = retry_failed
        self.check_existing = check_existing
        self._data_path = data_path
        if runner is None:
            runner = (subprocess_runner(self.dir, max(1, (os.cpu_count() or 1) // self.jobs))
                      if self.jobs > 1 else inprocess_runner())
        self.runner = runner
        self.items: list[PlannedRun] = []
        self.greedy: list[dict] = []
        self._by_sig: dict[str, PlannedRun] = {}
        self._lock = threading.Lock()
        self._previous = self._load_previous()
        self.started_at = _dt.datetime.now().isoformat(timespec="seconds")

    # -- planning ----------------------------------------------------------------------------------
    def data_path(self) -> str:
        if self._data_path is None:
            path = self.spec.config({}).data.path
            if not path:
                from hpdesc.api import default_data_path

                path = default_data_path()
            if not Path(path).exists():
                raise ConfigError(f"{self.spec.source()}: data.path {path}: no such dataset file")
            self._data_path = str(Path(path).resolve())
        return str(self._data_path)

    def plan(self, choice: Mapping[int, int], step: int | None = None) -> PlannedRun:
        """The run for ``choice`` (config resolved, data path made absolute, name from settings)."""
        cfg = self.spec.config(choice)
        cfg.data.path = self.data_path()
        name = run_name(self.spec, choice)
        item = PlannedRun(name=name, choice=dict(choice), config=cfg, path=self.dir / "runs" / name, step=step)
        if self.check_existing:
            self._check_existing(item)
        return item

    def plan_grid(self) -> list[PlannedRun]:
        return [self.plan(choice) for choice in self.spec.grid()]

    def _check_existing(self, item: PlannedRun) -> None:
        """Refuse to reuse a run directory whose config differs from the planned one."""
        if not has_started(item.path):
            return
        try:
            old = C.resolve(item.path / "config.toml").to_dict(provenance=False)
        except HpdescError:
            return
        new = item.config.to_dict(provenance=False)
        if old == new:
            return
        diffs = []
        for sec in sorted(set(old) | set(new)):
            a, b = old.get(sec, {}), new.get(sec, {})
            for k in sorted(set(a) | set(b)):
                if a.get(k) != b.get(k):
                    diffs.append(f"{sec}.{k} {a.get(k)!r} -> {b.get(k)!r}")
        raise ConfigError(f"{item.path} holds a run with other settings ({'; '.join(diffs[:3])})",
                          hint="the sweep file or --set changed: pass another --out, or delete that run")

    # -- manifest ------------------------------------------------------------------------------------------
    def _load_previous(self) -> dict:
        p = self.dir / MANIFEST
        if not p.exists():
            return {}
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except ValueError:
            return {}
        return {r["name"]: r for r in data.get("runs", []) if isinstance(r, dict) and "name" in r}

    def manifest(self) -> dict:
        spec = self.spec
        best = self.best()
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "title": spec.title, "description": spec.description,
            "sweep_file": str(spec.path) if spec.path else None, "sets": list(spec.sets),
            "mode": spec.mode, "metric": spec.metric, "lower_is_better": spec.lower_is_better,
            "axes": [a.to_dict() for a in spec.axes],
            "runs": [self._entry(it) for it in self.items],
            "greedy": self.greedy,
            "best": best.name if best else None,
            "started_at": self.started_at,
            "updated_at": _dt.datetime.now().isoformat(timespec="seconds"),
        }

    def _entry(self, it: PlannedRun) -> dict:
        return {"name": it.name, "path": os.path.relpath(it.path, self.dir), "step": it.step,
                "choice": {self.spec.axes[a].key: self.spec.axes[a].values[i] for a, i in sorted(it.choice.items())},
                "settings": it.settings(self.spec), "status": it.status, "error": it.error,
                "same_as": it.same_as, "metrics": it.metrics, "seconds": it.seconds}

    def save_manifest(self) -> None:
        with self._lock:
            write_text_atomic(self.dir / MANIFEST, json.dumps(self.manifest(), indent=2, default=str) + "\n")

    # -- running -------------------------------------------------------------------------------------------
    def _metric(self, it: PlannedRun) -> float | None:
        v = it.metrics.get(self.spec.metric)
        return None if v is None or v != v else float(v)

    def best(self, items=None) -> PlannedRun | None:
        items = [it for it in (items if items is not None else self.items)
                 if it.status == "finished" and self._metric(it) is not None]
        if not items:
            return None
        key = (lambda it: self._metric(it)) if not self.spec.lower_is_better else (lambda it: -self._metric(it))
        return max(items, key=key)  # max() keeps the first of equals: the earlier value wins ties

    def _run_one(self, it: PlannedRun, n: int, total: int) -> None:
        tag = f"[{n}/{total}] {it.name}"
        prev = self._previous.get(it.name, {})
        if is_complete(it.path):
            it.status = "finished"
            it.metrics = read_run(it.path).metrics()
            it.seconds = prev.get("seconds")
            self.log(f"{tag}: already complete, skipped")
            return
        if prev.get("status") == "failed" and has_started(it.path) and not self.retry_failed:
            it.status, it.error = "failed", prev.get("error")
            self.log(f"{tag}: failed before ({it.error}); skipped (--retry-failed runs it again)")
            return
        resume = has_started(it.path)
        self.log(f"{tag}: {'resuming' if resume else 'training'}")
        it.status = "running"
        self.save_manifest()
        t0 = time.perf_counter()
        try:
            out = dict(self.runner(it, resume) or {})
        except KeyboardInterrupt:
            it.status = "interrupted"
            self.save_manifest()
            raise
        it.seconds = round(time.perf_counter() - t0 + (prev.get("seconds") or 0.0 if resume else 0.0), 1)
        it.status = out.get("status", "finished")
        it.error = out.get("error")
        it.metrics = dict(out["metrics"]) if "metrics" in out else read_run(it.path).metrics()
        v = self._metric(it)
        shown = f"{self.spec.metric}={v:.4g}" if v is not None else ""
        self.log(f"{tag}: {it.status}" + (f" ({it.error})" if it.error else "") + (f", {shown}" if shown else "")
                 + f" in {it.seconds:.0f}s")
        self.save_manifest()

    def _run_batch(self, batch: list[PlannedRun]) -> None:
        todo: list[PlannedRun] = []
        for it in batch:
            sig = it.signature()
            first = self._by_sig.get(sig)
            if first is not None and first is not it:
                it.same_as, it.path = first.name, first.path
            else:
                self._by_sig[sig] = it
                todo.append(it)
            self.items.append(it)
        self.save_manifest()
        base = sum(1 for x in self.items if x.same_as is None) - len(todo)
        total = base + len(todo) + self._remaining_estimate()
        if self.jobs == 1 or len(todo) < 2:
            for k, it in enumerate(todo):
                self._run_one(it, base + k + 1, total)
        else:
            with ThreadPoolExecutor(max_workers=self.jobs) as pool:
                futures = [pool.submit(self._run_one, it, base + k + 1, total) for k, it in enumerate(todo)]
                for f in futures:
                    f.result()
        for it in batch:  # aliases share the first run's outcome
            if it.same_as is not None:
                first = self._by_sig[it.signature()]
                it.status, it.error, it.metrics, it.seconds = first.status, first.error, first.metrics, 0.0
        self.save_manifest()

    def _remaining_estimate(self) -> int:
        if self.spec.mode != "greedy":
            return 0
        done_steps = len(self.greedy) + 1
        return sum(len(a.values) for a in self.spec.axes[done_steps:])

    def run(self) -> "Sweep":
        """Run every planned run; returns self (``items``, ``greedy``, ``best()`` hold the outcome)."""
        make_dirs(self.dir)  # an unwritable --out: one line, before any run
        self.data_path()
        if self.spec.mode == "grid" or not self.spec.axes:
            items = self.plan_grid()  # every run planned (and checked) before the first starts
            self._run_batch(items)
        else:
            chosen: dict[int, int] = {}
            for a, ax in enumerate(self.spec.axes):
                batch = [self.plan({**chosen, a: i}, step=a) for i in range(len(ax.values))]
                self._run_batch(batch)
                best = self.best(batch)
                if best is None:
                    pick, note = 0, f"no run of this axis has a {self.spec.metric}; keeping its first value"
                else:
                    pick, note = best.choice[a], None
                chosen[a] = pick
                self.greedy.append({"axis": ax.key, "value": ax.values[pick], "label": ax.labels[pick],
                                    "run": best.name if best else None,
                                    "metric": self._metric(best) if best else None, "note": note})
                self.log(f"greedy: {ax.key} = {ax.labels[pick]}" + (f" ({note})" if note else
                         f" ({self.spec.metric} {self._metric(best):.4g}, run {best.name})"))
                self.save_manifest()
        self.save_manifest()
        return self

    @property
    def failed(self) -> list[PlannedRun]:
        return [it for it in self.items if it.status not in ("finished",)]


def run_sweep(spec: SweepSpec, **kw) -> Sweep:
    """Run a validated sweep (see :class:`Sweep` for the keyword arguments)."""
    return Sweep(spec, **kw).run()


__all__ = ["Sweep", "PlannedRun", "run_sweep", "run_name", "inprocess_runner", "subprocess_runner"]
