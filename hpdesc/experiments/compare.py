"""Compare runs: the report's tables (verification, matching, retrieval, total; one row per run,
the swept settings as columns) and learning-curve overlays per axis, as PNG + Markdown.

Runs come from run directories, folders of run directories, or sweep directories (whose
``sweep.json`` names the axes). For plain run directories the columns are the config keys whose
values differ between the runs.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from hpdesc.atomic import atomic_path, make_dirs, write_text_atomic
from hpdesc.errors import UsageError
from hpdesc.experiments.runinfo import STAGES, TASKS, RunInfo, read_run
from hpdesc.experiments.sweepfile import METRICS, fmt_value, short_key

COLUMN_TITLES = {"verification": "Verification", "matching": "Matching", "retrieval": "Retrieval",
                 "total": "Total", "psnr": "PSNR dB", "val_loss_denoiser": "Val loss (denoiser)",
                 "val_loss_descriptor": "Val loss (descriptor)", "loss_denoiser": "Train loss (denoiser)",
                 "loss_descriptor": "Train loss (descriptor)"}
SHORT_TITLES = {"verification": "Verif.", "matching": "Match.", "retrieval": "Retr.", "psnr": "PSNR",
                "val_loss_denoiser": "Val (den)", "val_loss_descriptor": "Val (desc)"}
PERCENT = set(TASKS) | {"total"}


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
        if "psnr" in have:
            cols.append("psnr")
        losses = [m for m in ("val_loss_denoiser", "val_loss_descriptor") if m in have]
        if self.metric in losses or not cols:
            cols += [m for m in losses if m == self.metric or not any(t in have for t in TASKS)]
        if self.metric in have and self.metric not in cols:
            cols.append(self.metric)
        return cols

    def best(self) -> Row | None:
        cands = [r for r in self.runs() if r.status == "finished" and r.metrics.get(self.metric) is not None]
        if not cands:
            return None
        sign = -1.0 if self.lower_is_better else 1.0
        return max(cands, key=lambda r: sign * r.metrics[self.metric])


# -- collecting -----------------------------------------------------------------------------------------
def collect(paths: Iterable, metric: str | None = None, baselines: bool = True) -> Comparison:
    """Gather the runs under ``paths`` (run, sweep, or a folder of runs) into a Comparison."""
    from hpdesc.experiments.sweep import MANIFEST, read_manifest

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
            out[sec if k == "name" and sec not in ("data", "training", "benchmark") else f"{sec}.{k}"] = v
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
    """The baselines benchmarked with the runs (the first run that has each)."""
    seen: dict[str, Row] = {}
    for r in rows:
        if r.info is None or r.status != "finished":
            continue
        for name, head in r.info.baselines().items():
            if name in seen or not head:
                continue
            m = {t: float(head[t]) for t in TASKS if t in head}
            if m:
                m["total"] = sum(m.values()) / len(m)
            seen[name] = Row(f"{name} (baseline)", None, {}, "finished", m, baseline=True)
    return list(seen.values())


# -- formatting -------------------------------------------------------------------------------------
def fmt_metric(key: str, value) -> str:
    if value is None:
        return "-"
    if key in PERCENT:
        return f"{100.0 * value:.2f}"
    if key == "psnr":
        return f"{value:.2f}"
    return f"{value:.4g}"


def _best_values(comp: Comparison, cols: list[str]) -> dict:
    best = {}
    for c in cols:
        vals = [r.metrics[c] for r in comp.rows if c in r.metrics and r.status == "finished"]
        if len(vals) > 1:
            best[c] = min(vals) if METRICS.get(c, "max") == "min" else max(vals)
    return best


def _status_cell(r: Row) -> str:
    if r.baseline:
        return "baseline"
    return r.status if not r.error else f"{r.status}: {r.error.splitlines()[0][:60]}"


def rich_table(comp: Comparison):
    """The comparison as a rich table (:func:`hpdesc.benchmark.report.results_table`)."""
    import functools

    from hpdesc.benchmark.report import TableRow, results_table

    cols = comp.metric_columns()
    best = _best_values(comp, cols)
    show_status = any(r.status != "finished" for r in comp.runs())
    unit = "mAP %, " if any(c in PERCENT for c in cols) else ""
    named = not comp.columns  # with axis columns the settings say which run a row is
    labels = (["run"] if named else []) + [short_key(c) if len(comp.columns) > 1 else c for c in comp.columns]
    rows = []
    for r in comp.rows:
        cells = [r.settings.get(c, "-") for c in comp.columns]
        if named:
            cells.insert(0, r.name)
        elif r.baseline:
            cells[0] = r.name
        rows.append(TableRow(cells, [r.metrics.get(c) for c in cols], [_status_cell(r)] if show_status else (),
                             style="dim" if r.baseline else None))
    return results_table(labels, [SHORT_TITLES.get(c, COLUMN_TITLES.get(c, c)) for c in cols], rows,
                         fmt=[functools.partial(fmt_metric, c) for c in cols], best=[best.get(c) for c in cols],
                         after=["status"] if show_status else (), title=f"{comp.title} ({unit}best in bold)",
                         label_style="bold" if named else None)


def markdown_table(comp: Comparison) -> str:
    cols = comp.metric_columns()
    best = _best_values(comp, cols)
    show_status = any(r.status != "finished" for r in comp.runs())
    head = ["Run", *comp.columns, *[COLUMN_TITLES.get(c, c) + (" %" if c in PERCENT else "") for c in cols]]
    if show_status:
        head.append("Status")
    lines = ["| " + " | ".join(head) + " |",
             "|" + "---|" * (1 + len(comp.columns)) + "---:|" * len(cols) + ("---|" if show_status else "")]
    for r in comp.rows:
        cells = [f"`{r.name}`" if not r.baseline else r.name] + [str(r.settings.get(c, "-")) for c in comp.columns]
        for c in cols:
            s = fmt_metric(c, r.metrics.get(c))
            cells.append(f"**{s}**" if c in best and r.metrics.get(c) == best[c] else s)
        if show_status:
            cells.append(_status_cell(r).replace("|", "/"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_table(comp: Comparison) -> str:
    cols = comp.metric_columns()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["run", *comp.columns, *cols, "status", "path"])
    for r in comp.rows:
        w.writerow([r.name, *[r.settings.get(c, "") for c in comp.columns],
                    *["" if r.metrics.get(c) is None else repr(float(r.metrics[c])) for c in cols],
                    _status_cell(r), "" if r.path is None else str(r.path)])
    return buf.getvalue()


# -- learning curves --------------------------------------------------------------------------------------
def curve_groups(comp: Comparison) -> list[tuple[str, str, list[tuple[str, Row]]]]:
    """``[(axis key or "runs", title, [(line label, row), ...]), ...]``: one overlay per axis.

    Greedy sweeps: the runs of the axis' own step. Grids: the runs that differ from the best run
    in this axis only. Plain run directories: all runs in one figure.
    """
    runs = [r for r in comp.runs() if r.info is not None and r.info.history]
    groups = []
    axes = (comp.manifest or {}).get("axes", []) if comp.manifest else []
    if axes:
        greedy = (comp.manifest or {}).get("mode") == "greedy"
        ref = comp.best() or (runs[0] if runs else None)
        for a, ax in enumerate(axes):
            key = ax["key"]
            if greedy:
                members = [r for r in runs if r.step == a]
            else:
                others = {k: v for k, v in (ref.settings if ref else {}).items() if k != key}
                members = [r for r in runs if all(r.settings.get(k) == v for k, v in others.items())]
            if members:
                groups.append((key, f"{key}", [(r.settings.get(key, r.name), r) for r in members]))
        loose = [r for r in runs if r.step is None and not r.settings and r.path is not None
                 and not any(r in g[2] for g in groups)]
    else:
        loose = runs
    if loose:
        label = lambda r: ", ".join(f"{short_key(k)}={v}" for k, v in r.settings.items()) or r.name  # noqa: E731
        groups.append(("runs", "runs", [(label(r), r) for r in loose]))
    return groups


def plot_overlay(path, title: str, lines: list[tuple[str, Row]], ylabel: dict | None = None) -> None:
    """Train (solid) and validation (dashed) loss per epoch, one colour per value; one panel per stage."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    stages = [s for s in STAGES if any(s in r.info.history for _, r in lines)]
    if len(stages) > 1 and len(lines) > 1:
        # a panel where every line is the same run history (e.g. the denoiser of a descriptor
        # axis) says nothing: leave it out
        def losses(r, s):
            return repr([(x.get("loss"), x.get("val_loss")) for x in r.info.history.get(s) or []])

        varied = [s for s in stages if len({losses(r, s) for _, r in lines}) > 1]
        stages = varied or stages
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, len(stages), figsize=(max(6.4, 5.2 * len(stages)), 3.8), dpi=90, squeeze=False)
    for ax, stage in zip(axes[0], stages):
        for k, (label, r) in enumerate(lines):
            rows = r.info.history.get(stage) or []
            if not rows:
                continue
            ep = [x["epoch"] for x in rows]
            color = f"C{k % 10}"
            ax.plot(ep, [x.get("loss") for x in rows], "-", color=color, marker="o", ms=3)
            if any(x.get("val_loss") is not None for x in rows):
                ax.plot(ep, [x.get("val_loss") for x in rows], "--", color=color, marker="s", ms=3)
        vals = [v for _, r in lines for x in (r.info.history.get(stage) or []) for v in (x.get("loss"), x.get("val_loss"))
                if v is not None and v > 0]
        if vals and max(vals) / min(vals) > 20:  # one diverging value would flatten the others
            ax.set_yscale("log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        loss_name = (ylabel or {}).get(stage)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"loss ({loss_name})" if loss_name else "loss")
        ax.set_title(f"{stage}")
        ax.grid(True, alpha=0.3)
        handles = [Line2D([], [], color=f"C{k % 10}", lw=2, label=str(label)) for k, (label, _) in enumerate(lines)]
        handles += [Line2D([], [], color="k", ls="-", label="train"), Line2D([], [], color="k", ls="--", label="validation")]
        ax.legend(handles=handles, fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _loss_names(rows: list[Row]) -> dict:
    """The loss of each stage for the y label, when all ``rows`` share it."""
    out = {}
    for stage in STAGES:
        names = {json_key(r.info.config.get(f"{stage}_loss")) for r in rows if r.info and r.info.config}
        if len(names) == 1:
            only = next(iter(names))
            out[stage] = only if only != "null" else None
    return out


def json_key(comp) -> str:
    if not isinstance(comp, dict):
        return "null"
    rest = ", ".join(f"{k}={v}" for k, v in comp.items() if k != "name")
    return f"{comp.get('name')}" + (f" {rest}" if rest else "")


def _file_name(key: str) -> str:
    return "curves_" + re.sub(r"[^A-Za-z0-9._-]+", "_", short_key(key) if key != "runs" else "runs") + ".png"


# -- the report ---------------------------------------------------------------------------------------------
def _budget(comp: Comparison) -> str:
    for r in comp.runs():
        cfg = r.info.config if r.info else {}
        t = cfg.get("training") if cfg else None
        if t:
            data = cfg.get("data", {}).get("path") or "embedded dataset"
            desc = cfg.get("descriptor", {}).get("name", "none")
            parts = [f"denoiser {t.get('denoiser_epochs')} epochs x {t.get('denoiser_samples_per_epoch')} samples "
                     f"(batch {t.get('denoiser_batch_size')})"]
            if str(desc).lower() != "none":
                parts.append(f"descriptor {t.get('descriptor_epochs')} epochs x "
                             f"{t.get('descriptor_triplets_per_epoch')} triplets (batch {t.get('descriptor_batch_size')})")
            parts.append(f"data `{Path(str(data)).name}`, split `{cfg.get('data', {}).get('split')}`, "
                         f"seed {t.get('seed')}")
            return "; ".join(parts)
    return ""


def write_report(comp: Comparison, out, *, curves: bool = True) -> dict:
    """Write ``report.md``, ``results.csv`` and ``curves_*.png`` into ``out``; returns their paths."""
    out = make_dirs(out)
    written = {"markdown": out / "report.md", "csv": out / "results.csv", "figures": []}
    figures = []
    if curves:
        for key, title, lines in curve_groups(comp):
            p = out / _file_name(key)
            plot_overlay(p, title if key != "runs" else comp.title, lines, _loss_names([r for _, r in lines]))
            figures.append((key, p))
            written["figures"].append(p)
    write_text_atomic(written["csv"], csv_table(comp))
    md = [f"# {comp.title}", ""]
    if comp.description:
        md += [comp.description.strip(), ""]
    m = comp.manifest or {}
    if m:
        md.append(f"Sweep `{m.get('sweep_file')}`: mode **{m.get('mode')}**, metric **{m.get('metric')}**"
                  + (f", overrides `{' '.join(m.get('sets') or [])}`" if m.get("sets") else "") + ".")
    budget = _budget(comp)
    if budget:
        md.append(f"Budget: {budget}.")
    cols = comp.metric_columns()
    note = ("mAP % on the test split (HPatches tasks); total = mean of the three tasks. "
            if any(c in PERCENT for c in cols) else "")
    if "psnr" in cols:
        note += "PSNR: denoised test patches vs clean. "
    if any(c.startswith("val_loss") for c in cols):
        note += "Val loss: lowest validation loss over the epochs. "
    md += ["", note + "Best value of each column in bold.", "", markdown_table(comp)]
    best = comp.best()
    if best is not None:
        md.append(f"Best by {comp.metric}: `{best.name}` ({fmt_metric(comp.metric, best.metrics[comp.metric])}).")
        md.append("")
    if m.get("greedy"):
        md += ["Greedy choices (each axis fixed at its best value before the next is swept):", "",
               f"| Axis | Chosen | {m.get('metric')} | Run |", "|---|---|---:|---|"]
        for g in m["greedy"]:
            md.append(f"| {g['axis']} | {g['label']} | {fmt_metric(m.get('metric'), g.get('metric'))} | "
                      f"`{g.get('run') or '-'}` |")
        md.append("")
    if figures:
        md += ["## Learning curves", "", "Training loss solid, validation loss dashed, one colour per value.", ""]
        for key, p in figures:
            md += [f"### {key}", "", f"![{key}]({p.name})", ""]
    write_text_atomic(written["markdown"], "\n".join(md).rstrip() + "\n")
    return written


def compare(paths: Iterable, out=None, *, metric: str | None = None, baselines: bool = True,
            curves: bool = True, sort: bool = False) -> tuple[Comparison, dict]:
    """Collect runs, write the report into ``out`` (default: a sweep's ``report/`` or ``./compare``)."""
    paths = list(paths)
    comp = collect(paths, metric=metric, baselines=baselines)
    if sort:
        sign = 1.0 if comp.lower_is_better else -1.0
        runs = sorted(comp.runs(), key=lambda r: (r.metrics.get(comp.metric) is None,
                                                  sign * (r.metrics.get(comp.metric) or 0.0)))
        comp.rows = runs + [r for r in comp.rows if r.baseline]
    if out is None:
        out = Path(paths[0]) / "report" if comp.manifest and len(paths) == 1 else Path("compare")
    return comp, write_report(comp, out, curves=curves)


__all__ = ["Comparison", "Row", "collect", "compare", "write_report", "rich_table", "markdown_table",
           "plot_overlay", "curve_groups"]
