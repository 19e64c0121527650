"""Compare runs: the report's tables (verification, matching, retrieval, total; one row per run,
the swept settings as columns) and learning-curve overlays per axis, as PNG + Markdown.

:mod:`hpdesc.experiments.comparison` collects the runs, :mod:`hpdesc.experiments.curves` draws the
overlays; this module renders the tables (rich, Markdown, CSV) and writes the report.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable

from hpdesc.atomic import make_dirs, refuse_inputs, write_text_atomic
from hpdesc.experiments.comparison import Comparison, Row, collect, finite_metric
from hpdesc.experiments.curves import curve_groups, file_name, loss_names, plot_overlay
from hpdesc.experiments.names import short_key
from hpdesc.experiments.runinfo import TASKS
from hpdesc.experiments.sweepfile import METRICS

COLUMN_TITLES = {"verification": "Verification", "matching": "Matching", "retrieval": "Retrieval",
                 "total": "Total", "psnr": "PSNR dB", "psnr_e": "PSNR e dB", "psnr_h": "PSNR h dB",
                 "psnr_t": "PSNR t dB", "val_loss_denoiser": "Val loss (denoiser)",
                 "val_loss_descriptor": "Val loss (descriptor)", "loss_denoiser": "Train loss (denoiser)",
                 "loss_descriptor": "Train loss (descriptor)"}
SHORT_TITLES = {"verification": "Verif.", "matching": "Match.", "retrieval": "Retr.", "psnr": "PSNR",
                "psnr_e": "PSNR e", "psnr_h": "PSNR h", "psnr_t": "PSNR t",
                "val_loss_denoiser": "Val (den)", "val_loss_descriptor": "Val (desc)"}
PERCENT = set(TASKS) | {"total"}


# -- formatting -------------------------------------------------------------------------------------
def fmt_metric(key: str, value) -> str:
    """A metric as the tables show it: mAP in %, PSNR in dB, losses to 4 digits; ``-`` for none."""
    if value is None:
        return "-"
    if key in PERCENT:
        return f"{100.0 * value:.2f}"
    if key.startswith("psnr"):
        return f"{value:.2f}"
    return f"{value:.4g}"


def _best_values(comp: Comparison, cols: list[str]) -> dict:
    best = {}
    for c in cols:
        vals = [r.metrics[c] for r in comp.rows if r.status == "finished" and finite_metric(r.metrics.get(c))]
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
    out = Path(out)
    groups = list(curve_groups(comp)) if curves else []
    written = {"markdown": out / "report.md", "csv": out / "results.csv", "figures": []}
    # a run's own files (curves_denoiser.png, ...) are inputs: --out RUN must not replace them
    reads = [p for r in comp.rows if r.path is not None and Path(r.path).is_dir()
             for p in Path(r.path).iterdir() if p.is_file()]
    refuse_inputs([written["markdown"], written["csv"], *(out / file_name(key) for key, _, _ in groups)], reads)
    out = make_dirs(out)
    figures = []
    if curves:
        for key, title, lines in groups:
            p = out / file_name(key)
            plot_overlay(p, title if key != "runs" else comp.title, lines, loss_names([r for _, r in lines]))
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
    if any(c in cols for c in ("psnr_e", "psnr_h", "psnr_t")):
        note += "PSNR e / h / t: the same per noise level (the e, h, t images). "
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


__all__ = ["compare", "write_report", "rich_table", "markdown_table", "csv_table", "fmt_metric"]
