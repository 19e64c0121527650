"""Report image-matching results: a rich table, the MMA curves (PNG) and JSON, all written atomically."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from rich.table import Table

from hpdesc.atomic import atomic_path, write_json_atomic
from hpdesc.matching.evaluate import (CORNER_THRESHOLDS, GROUPS, HOMOGRAPHY_ESTIMATOR, HOMOGRAPHY_THRESHOLD,
                                      THRESHOLDS, ImageMatchingResult)

GROUP_TITLES = {"i": "illumination (i_)", "v": "viewpoint (v_)", "overall": "overall"}
MMA_COLUMNS = (1, 3, 5, 10)
CORRECT_COLUMN = 3
"""The table's correct-matches column: mean matches per pair within this many pixels."""


def _pct(x) -> str:
    return "-" if x is None else f"{100.0 * x:.1f}"


def _num(x, fmt: str = "{:.1f}") -> str:
    return "-" if x is None else fmt.format(x)


def title(results: Sequence[ImageMatchingResult]) -> str:
    r = results[0]
    n_i = sum(s.startswith("i_") for s in r.sequences)
    subset = ", D2-Net subset" if r.d2net_subset else ""
    return (f"Image matching on {r.seq_dir} ({len(r.sequences)} sequences: {n_i} i_, "
            f"{len(r.sequences) - n_i} v_{subset})")


def context_lines(results: Sequence[ImageMatchingResult]) -> list[str]:
    """How the numbers were computed, one line each (printed under the table)."""
    return [f"MMA (%): mutual nearest neighbours (L2), share of matches within t px of the ground-truth projection, "
            f"mean over pairs (a pair without matches counts 0); correct@{CORRECT_COLUMN}: mean matches per pair "
            f"within {CORRECT_COLUMN} px; kpts: mean keypoints per image; matches: mean per pair; no match: pairs without matches; homography: {HOMOGRAPHY_ESTIMATOR} "
            f"threshold {HOMOGRAPHY_THRESHOLD:g} px, mean corner error, share of pairs within "
            f"{'/'.join(map(str, CORNER_THRESHOLDS))} px (no estimate = failure)"]


def _rows(results: Sequence[ImageMatchingResult]):
    """``(label, result, group, last_of_method)`` for each group with pairs; the label only on a method's first row."""
    for r in results:
        groups = [g for g in GROUPS if r.n_pairs(g)]
        for n, g in enumerate(groups):
            yield (r.method if n == 0 else ""), r, g, n == len(groups) - 1


def results_table(results: Sequence[ImageMatchingResult]) -> Table:
    """MMA (%) at 1/3/5/10 px per method and group, with correct matches per pair (within
    :data:`CORRECT_COLUMN` px), mean keypoints, matches and pairs without matches."""
    t = Table(title=title(results), title_justify="left")
    t.add_column("method", overflow="fold")
    t.add_column("group", min_width=7, no_wrap=True)
    for px in MMA_COLUMNS:
        t.add_column(f"MMA@{px}", justify="right")
    for col in (f"correct@{CORRECT_COLUMN}", "kpts", "matches", "no match"):
        t.add_column(col, justify="right")
    for label, r, g, last in _rows(results):
        mma, correct = r.mma(g), r.correct_matches(g)
        t.add_row(label, g, *[_pct(mma[px - 1]) for px in MMA_COLUMNS], _num(correct[CORRECT_COLUMN - 1], "{:.0f}"),
                  _num(r.mean_keypoints(g), "{:.0f}"),
                  _num(r.mean_matches(g), "{:.0f}"), f"{r.zero_match_pairs(g)}/{r.n_pairs(g)}", end_section=last)
    return t


def homography_table(results: Sequence[ImageMatchingResult]) -> Table:
    """Homography accuracy per method and group: share (%) of pairs within 1/3/5 px, median corner error, failures."""
    t = Table(title=f"homography accuracy ({HOMOGRAPHY_ESTIMATOR}, {HOMOGRAPHY_THRESHOLD:g} px; mean corner error)",
              title_justify="left")
    t.add_column("method", overflow="fold")
    t.add_column("group", min_width=7, no_wrap=True)
    for px in CORNER_THRESHOLDS:
        t.add_column(f"<={px}px", justify="right")
    t.add_column("median px", justify="right")
    t.add_column("no estimate", justify="right")
    for label, r, g, last in _rows(results):
        h = r.homography(g)
        t.add_row(label, g, *[_pct(h["shares"][str(px)]) for px in CORNER_THRESHOLDS],
                  _num(h["median_error"], "{:.2f}") if h["median_error"] is not None else "fail",
                  f"{h['failures']}/{r.n_pairs(g)}", end_section=last)
    return t


def timing_table(results: Sequence[ImageMatchingResult]) -> Table:
    """Seconds per phase (reading images, features, matching, homography) for each method."""
    phases = [p for p in ("read", "features", "matching", "homography") if any(p in r.seconds for r in results)]
    t = Table(title="seconds per phase", title_justify="left")
    t.add_column("method", overflow="fold")
    for p in (*phases, "total"):
        t.add_column(p, justify="right")
    for r in results:
        t.add_row(r.method, *[_num(r.seconds.get(p), "{:.2f}") for p in phases], f"{sum(r.seconds.values()):.2f}")
    return t


def to_json(results: Sequence[ImageMatchingResult]) -> dict:
    """The JSON document: the protocol's settings and, per method, its curves, shares, counts and notes."""
    return {"format": "hpdesc.image-matching", "format_version": 1,
            "protocol": {"matching": "mutual nearest neighbours, L2", "thresholds_px": list(THRESHOLDS),
                         "homography": f"{HOMOGRAPHY_ESTIMATOR}, threshold {HOMOGRAPHY_THRESHOLD:g} px",
                         "corner_thresholds_px": list(CORNER_THRESHOLDS),
                         "pairs_without_matches": "accuracy 0, no correct match, homography failure",
                         "correct_matches": "mean number of matches per pair within each threshold"},
            "methods": [r.to_dict() for r in results]}


def write_json(results: Sequence[ImageMatchingResult], path) -> None:
    write_json_atomic(path, to_json(results))


def plot_groups(results: Sequence[ImageMatchingResult]) -> list[str]:
    """The groups that get a panel: those where some method has pairs (no empty panel)."""
    return [g for g in GROUPS if any(r.n_pairs(g) for r in results)]


def plot_mma(results: Sequence[ImageMatchingResult], path) -> None:
    """MMA curves (top row) and correct matches per pair (bottom row), 1..10 px, one column per group
    with pairs (illumination, viewpoint, overall), one line per method; the legend sits below the
    panels so it covers no curve (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = plot_groups(results)
    n_rows = max(1, -(-len(results) // 2))  # legend: two methods per row
    fig, axes = plt.subplots(2, len(groups), figsize=(4.4 * len(groups) + 0.6, 7.4 + 0.22 * n_rows),
                             sharex=True, squeeze=False)
    top = max((float(np.max(c)) for r in results for g in groups
               if (c := r.correct_matches(g)) is not None), default=1.0)
    handles: dict[int, object] = {}  # one legend entry per method, from its first panel
    for col, g in enumerate(groups):
        ax_m, ax_c = axes[0, col], axes[1, col]
        for n, r in enumerate(results):
            mma, correct = r.mma(g), r.correct_matches(g)
            if mma is None:
                continue
            style = {"marker": "o", "markersize": 3, "color": f"C{n % 10}",
                     "linestyle": ("-", "--", "-.", ":")[(n // 10) % 4]}
            line, = ax_m.plot(THRESHOLDS, mma, **style)
            ax_c.plot(THRESHOLDS, correct, **style)
            handles.setdefault(n, line)
        ax_m.set_title(f"{GROUP_TITLES[g]} ({max(r.n_pairs(g) for r in results)} pairs)")
        ax_m.set_ylim(0, 1)
        ax_c.set_ylim(0, top * 1.05 + 1)
        ax_c.set_xlabel("threshold (px)")
        for ax in (ax_m, ax_c):
            ax.set_xticks(THRESHOLDS)
            ax.set_xlim(1, 10)
            ax.grid(linestyle="--", alpha=0.5)
    axes[0, 0].set_ylabel("MMA")
    axes[1, 0].set_ylabel("correct matches per pair")
    labels = []
    for n in sorted(handles):  # the legend quotes the overall figures at 3 px
        r = results[n]
        labels.append(f"{r.method}: overall MMA@3 {100 * r.mma()[2]:.1f}%, {r.correct_matches()[2]:.0f} correct/pair")
    handles = [handles[n] for n in sorted(handles)]
    fig.suptitle(title(results), fontsize=10)
    fig.tight_layout(rect=(0, 0.01 + 0.035 * n_rows, 1, 1))
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(2, len(handles)), fontsize=8, frameon=False)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
