"""Benchmark reports: rich tables, JSON, Markdown, comparison table and a bar chart.

Values are stored as fractions and shown as percentages with two decimals (as the HPatches
results tables do).
"""

from __future__ import annotations

import json
from typing import Sequence

from rich.table import Table

from hpdesc.atomic import atomic_path, write_text_atomic
from hpdesc.benchmark.evaluate import POOL_SIZES, TASK_NAMES, BenchmarkResult
from hpdesc.data.images import LEVELS

LEVEL_NAMES = {"e": "easy", "h": "hard", "t": "tough"}
TASK_TITLES = {"verification": "Verification mAP", "matching": "Matching mAP", "retrieval": "Retrieval mAP"}


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100.0 * x:.2f}"


def describe(r: BenchmarkResult) -> str:
    return f"{r.descriptor} on {r.dataset} (split {r.split}, protocol {r.protocol}, distance {r.distance})"


def headline_table(r: BenchmarkResult) -> Table:
    t = Table(title=f"HPatches benchmark: {r.descriptor}", title_justify="left",
              caption=f"dataset {r.dataset} | split {r.split} | protocol {r.protocol} | distance {r.distance}",
              caption_justify="left")
    t.add_column("Task")
    t.add_column("mAP %", justify="right")
    for task in TASK_NAMES:
        if task in r.headline:
            note = " (cached)" if task in r.cached else ""
            t.add_row(TASK_TITLES[task] + note, pct(r.headline[task]))
    if len(r.headline) > 1:
        t.add_row("[bold]Mean[/]", f"[bold]{pct(r.mean)}[/]")
    return t


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
    """Descriptors as rows, tasks as columns; the best value of each column in bold green."""
    tasks = [t for t in TASK_NAMES if any(t in r.headline for r in results)]
    cols = tasks + (["mean"] if len(tasks) > 1 else [])
    val = lambda r, c: r.mean if c == "mean" else r.headline.get(c)  # noqa: E731
    best = {c: max((val(r, c) for r in results if val(r, c) is not None), default=None) for c in cols}
    first = results[0]
    t = Table(title=f"HPatches comparison (split {first.split}, protocol {first.protocol}, distance {first.distance})",
              title_justify="left")
    t.add_column("Descriptors")
    for c in cols:
        t.add_column(TASK_TITLES.get(c, "Mean") + " %", justify="right")
    for r in results:
        cells = []
        for c in cols:
            x = val(r, c)
            s = pct(x)
            cells.append(f"[bold green]{s}[/]" if x is not None and x == best[c] and len(results) > 1 else s)
        t.add_row(r.descriptor, *cells)
    return t


def write_json(results: Sequence[BenchmarkResult] | BenchmarkResult, path) -> None:
    items = [results] if isinstance(results, BenchmarkResult) else list(results)
    data = items[0].to_dict() if len(items) == 1 else {"results": [r.to_dict() for r in items]}
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def markdown(results: Sequence[BenchmarkResult], breakdown: bool = True) -> str:
    results = list(results)
    tasks = [t for t in TASK_NAMES if any(t in r.headline for r in results)]
    lines = ["# HPatches benchmark", ""]
    for r in results:
        lines.append(f"- **{r.descriptor}**: `{r.descriptors_path}` on `{r.dataset}`, split `{r.split}`, "
                     f"protocol `{r.protocol}`, distance `{r.distance}`")
    lines += ["", "| Descriptors | " + " | ".join(TASK_TITLES[t] + " %" for t in tasks) + " | Mean % |",
              "|---|" + "---:|" * (len(tasks) + 1)]
    for r in results:
        lines.append(f"| {r.descriptor} | " + " | ".join(pct(r.headline.get(t)) for t in tasks) + f" | {pct(r.mean)} |")
    if breakdown:
        for r in results:
            q = r.breakdown.get("retrieval")
            v = r.breakdown.get("verification")
            m = r.breakdown.get("matching")
            lines += ["", f"## {r.descriptor}", "", "| Level | " + " | ".join(
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
        ax.set_yticklabels([r.descriptor for r in results])
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
