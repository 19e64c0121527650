"""Benchmark reports: rich tables (the one results-table renderer), JSON, Markdown and a bar chart.

Values are stored as fractions and shown as percentages with two decimals (as the HPatches
results tables do).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from rich.table import Table
from rich.text import Text

from hpdesc.atomic import atomic_path, write_text_atomic
from hpdesc.benchmark.evaluate import BenchmarkResult
from hpdesc.benchmark.retrieval import POOL_SIZES
from hpdesc.config import TASKS as TASK_NAMES
from hpdesc.data.images import LEVELS

LEVEL_NAMES = {"e": "easy", "h": "hard", "t": "tough"}
TASK_TITLES = {"verification": "Verification mAP", "matching": "Matching mAP", "retrieval": "Retrieval mAP"}


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.2f}"


def describe(r: BenchmarkResult) -> str:
    return f"{r.descriptor} on {r.dataset} (split {r.split}, protocol {r.protocol}, distance {r.distance})"


def context(r: BenchmarkResult) -> str:
    """What a result was computed on: ``dataset PATH | split S | protocol P | distance D``."""
    return f"dataset {r.dataset} | split {r.split} | protocol {r.protocol} | distance {r.distance}"


def row_names(results: Sequence[BenchmarkResult]) -> list[str]:
    """One distinct name per result: its label, with the file stem where labels collide.

    Where stems collide too, the path; the same file given twice gets ``#1``, ``#2``.
    """
    results = list(results)
    names = [r.descriptor for r in results]
    for widen in (lambda r: f"{r.descriptor} [{Path(r.descriptors_path).stem}]",
                  lambda r: f"{r.descriptor} [{r.descriptors_path}]"):
        wide = [widen(r) if names.count(n) > 1 else n for r, n in zip(results, names)]
        # widen only where it tells rows apart (the same file twice keeps its stem)
        names = [w if wide.count(w) < names.count(n) else n for n, w in zip(names, wide)]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(f"{n} #{seen[n]}" if names.count(n) > 1 else n)
    return out


def title(results: Sequence[BenchmarkResult] | BenchmarkResult) -> str:
    """The line printed above a headline or comparison table."""
    items = [results] if isinstance(results, BenchmarkResult) else list(results)
    if len(items) == 1:
        return f"HPatches benchmark: {items[0].descriptor}"
    return f"HPatches comparison of {len(items)} descriptor files"


def context_lines(results: Sequence[BenchmarkResult] | BenchmarkResult) -> list[str]:
    """The lines printed below a table (full width, not a caption squeezed to the table's width).

    One result: its :func:`context`. Several: the shared context (or each row's when they differ)
    and the file behind each row.
    """
    items = [results] if isinstance(results, BenchmarkResult) else list(results)
    if len(items) == 1:
        return [context(items[0])]
    names = row_names(items)
    if len({context(r) for r in items}) == 1:
        return [context(items[0])] + [f"{n}: {r.descriptors_path}" for n, r in zip(names, items)]
    return [f"{n}: {r.descriptors_path} | {context(r)}" for n, r in zip(names, items)]


@dataclass
class TableRow:
    """One row of :func:`results_table`: label cells, values (fractions or raw numbers), trailing cells."""

    labels: Sequence[str]
    values: Sequence[float | None]
    after: Sequence[str] = ()
    style: str | None = None


def results_table(labels: Sequence[str], values: Sequence[str], rows: Sequence[TableRow], *,
                  fmt: Callable[[float | None], str] | Sequence[Callable[[float | None], str]] = pct,
                  best: Sequence[float | None] | None = None, after: Sequence[str] = (),
                  title: str | None = None, label_style: str | None = None) -> Table:
    """The one results table (benchmark, training's end-of-run table, run comparisons).

    Columns: ``labels`` (names, settings; cells shown verbatim, never as markup), then
    ``values`` (right-aligned, each cell through ``fmt``, one formatter or one per column; the
    cell equal to that column's ``best`` in bold green), then ``after`` (e.g. a status).
    ``label_style`` styles the first label column (the row's name); ``title`` goes above,
    left-aligned, and the table is at least as wide as it (a narrow table would wrap it).
    """
    fmts = [fmt] * len(values) if callable(fmt) else list(fmt)
    best = list(best) if best is not None else [None] * len(values)
    t = Table(title=title, title_justify="left", min_width=len(title)) if title else Table()
    for i, c in enumerate(labels):
        t.add_column(c, style=label_style if i == 0 else None)
    for c in values:
        t.add_column(c, justify="right")
    for c in after:
        t.add_column(c)
    for row in rows:
        cells = []
        for f, b, v in zip(fmts, best, row.values):
            s = f(v)
            cells.append(f"[bold green]{s}[/]" if b is not None and v is not None and v == b else s)
        t.add_row(*[Text(str(x)) for x in row.labels], *cells, *[Text(str(x)) for x in row.after], style=row.style)
    return t


def headline_table(r: BenchmarkResult) -> Table:
    """Task and mAP of one result (print :func:`title` above and :func:`context_lines` below)."""
    rows = [TableRow([TASK_TITLES[task] + (" (cached)" if task in r.cached else "")], [r.headline[task]])
            for task in TASK_NAMES if task in r.headline]
    if len(r.headline) > 1:
        rows.append(TableRow(["Mean"], [r.mean], style="bold"))
    return results_table(["Task"], ["mAP %"], rows)


def breakdown_tables(r: BenchmarkResult) -> list[Table]:
    out = []
    v = r.breakdown.get("verification")
    if v:
        t = Table(title="Verification (imbalanced AP %, balanced ROC AUC %)", title_justify="left")
        for c in ("Level", "intra AP", "inter AP", "intra AUC", "inter AUC"):
            t.add_column(c, justify="right" if c != "Level" else "left")
        for lv in LEVELS:
            x = v["levels"][lv]
            t.add_row(LEVEL_NAMES[lv], pct(x["intra"]["ap"]), pct(x["inter"]["ap"]), pct(x["intra"]["auc"]), pct(x["inter"]["auc"]))
        t.add_row("mean", pct(v["intra_ap"]), pct(v["inter_ap"]), "", pct(v["balanced_auc"]))
        out.append(t)
    m = r.breakdown.get("matching")
    if m:
        t = Table(title="Matching (mAP %)", title_justify="left")
        for c in ("Level", "all", "i_ (illum)", "v_ (view)"):
            t.add_column(c, justify="right" if c != "Level" else "left")
        for lv in LEVELS:
            t.add_row(LEVEL_NAMES[lv], pct(m["levels"][lv]), pct(m["groups"].get(f"{lv}_i")), pct(m["groups"].get(f"{lv}_v")))
        t.add_row("mean", pct(r.headline["matching"]), pct(m["i_v"].get("i")), pct(m["i_v"].get("v")))
        out.append(t)
    q = r.breakdown.get("retrieval")
    if q:
        t = Table(title=f"Retrieval (mAP %, {q['queries']} queries, {q['distractors']} distractors)", title_justify="left")
        t.add_column("Level")
        pools = "pools" in q
        if pools:
            for p in POOL_SIZES:
                t.add_column(str(p), justify="right")
        t.add_column("mean", justify="right")
        for lv in LEVELS:
            cells = [pct(q["pools"][lv][str(p)]) for p in POOL_SIZES] if pools else []
            t.add_row(LEVEL_NAMES[lv], *cells, pct(q["levels"][lv]))
        out.append(t)
    return out


def compare_table(results: Sequence[BenchmarkResult]) -> Table:
    """Descriptors as rows (:func:`row_names`), tasks as columns; the best of each column in bold green."""
    tasks = [t for t in TASK_NAMES if any(t in r.headline for r in results)]
    cols = tasks + (["mean"] if len(tasks) > 1 else [])
    val = lambda r, c: r.mean if c == "mean" else r.headline.get(c)  # noqa: E731
    best = [max((val(r, c) for r in results if val(r, c) is not None), default=None) if len(results) > 1 else None
            for c in cols]
    rows = [TableRow([name], [val(r, c) for c in cols]) for r, name in zip(results, row_names(results))]
    return results_table(["Descriptors"], [TASK_TITLES.get(c, "Mean") + " %" for c in cols], rows, best=best)


def write_json(results: Sequence[BenchmarkResult] | BenchmarkResult, path) -> None:
    items = [results] if isinstance(results, BenchmarkResult) else list(results)
    data = items[0].to_dict() if len(items) == 1 else {"results": [r.to_dict() for r in items]}
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def markdown(results: Sequence[BenchmarkResult], breakdown: bool = True) -> str:
    results = list(results)
    tasks = [t for t in TASK_NAMES if any(t in r.headline for r in results)]
    names = row_names(results)
    lines = ["# HPatches benchmark", ""]
    for r, name in zip(results, names):
        lines.append(f"- **{name}**: `{r.descriptors_path}` on `{r.dataset}`, split `{r.split}`, "
                     f"protocol `{r.protocol}`, distance `{r.distance}`")
    lines += ["", "| Descriptors | " + " | ".join(TASK_TITLES[t] + " %" for t in tasks) + " | Mean % |",
              "|---|" + "---:|" * (len(tasks) + 1)]
    for r, name in zip(results, names):
        lines.append(f"| {name} | " + " | ".join(pct(r.headline.get(t)) for t in tasks) + f" | {pct(r.mean)} |")
    if breakdown:
        for r, name in zip(results, names):
            q = r.breakdown.get("retrieval")
            v = r.breakdown.get("verification")
            m = r.breakdown.get("matching")
            lines += ["", f"## {name}", "", "| Level | " + " | ".join(
                x for x, b in (("Verification", v), ("Matching", m), ("Retrieval", q)) if b) + " |",
                "|---|" + "---:|" * sum(1 for b in (v, m, q) if b)]
            for lv in LEVELS:
                cells = []
                if v:
                    cells.append(pct(v["imbalanced_ap"][lv]))
                if m:
                    cells.append(pct(m["levels"][lv]))
                if q:
                    cells.append(pct(q["levels"][lv]))
                lines.append(f"| {LEVEL_NAMES[lv]} | " + " | ".join(cells) + " |")
    notes = [n for r in results for n in r.notes]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def write_markdown(results: Sequence[BenchmarkResult] | BenchmarkResult, path, breakdown: bool = True) -> None:
    items = [results] if isinstance(results, BenchmarkResult) else list(results)
    write_text_atomic(path, markdown(items, breakdown))


def plot_bars(results: Sequence[BenchmarkResult], path) -> None:
    """Grouped horizontal bars: one group per task, one bar per descriptor set (PNG, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = list(results)
    tasks = [t for t in TASK_NAMES if any(t in r.headline for r in results)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 0.5 * len(results) + 1.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        vals = [100 * r.headline.get(task, 0.0) for r in results]
        ys = range(len(results))
        ax.barh(list(ys), vals, color=[f"C{i % 10}" for i in ys], edgecolor="k")
        ax.set_yticks(list(ys))
        ax.set_yticklabels(row_names(results))
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_title(TASK_TITLES[task] + " %")
        for y, x in zip(ys, vals):
            ax.text(min(x + 1, 88), y, f"{x:.2f}", va="center")
        ax.grid(axis="x", linestyle="--", alpha=0.5)
    fig.suptitle(f"HPatches (split {results[0].split}, {results[0].protocol}, {results[0].distance})")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
