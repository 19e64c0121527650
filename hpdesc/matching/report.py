"""Report image-matching results: a rich table, the MMA curves (PNG) and JSON, all written atomically."""

from __future__ import annotations

from typing import Sequence

from rich.table import Table

from hpdesc.atomic import atomic_path, write_json_atomic
from hpdesc.matching.evaluate import (CORNER_THRESHOLDS, GROUPS, HOMOGRAPHY_ESTIMATOR, HOMOGRAPHY_THRESHOLD,
                                      THRESHOLDS, ImageMatchingResult)

GROUP_TITLES = {"i": "illumination (i_)", "v": "viewpoint (v_)", "overall": "overall"}
MMA_COLUMNS = (1, 3, 5, 10)


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
            f"mean over pairs (a pair without matches counts 0); kpts: mean keypoints per image; matches: mean "
            f"per pair; no match: pairs without matches; homography: {HOMOGRAPHY_ESTIMATOR} "
            f"threshold {HOMOGRAPHY_THRESHOLD:g} px, mean corner error, share of pairs within "
            f"{'/'.join(map(str, CORNER_THRESHOLDS))} px (no estimate = failure)"]


def _rows(results: Sequence[ImageMatchingResult]):
    """``(label, result, group, last_of_method)`` for each group with pairs; the label only on a method's first row."""
    for r in results:
        groups = [g for g in GROUPS if r.n_pairs(g)]
        for n, g in enumerate(groups):
            yield (r.method if n == 0 else ""), r, g, n == len(groups) - 1


def results_table(results: Sequence[ImageMatchingResult]) -> Table:
    """MMA (%) at 1/3/5/10 px per method and group, with mean keypoints, matches and pairs without matches."""
    t = Table(title=title(results), title_justify="left")
    t.add_column("method", overflow="fold")
    t.add_column("group", min_width=7, no_wrap=True)
    for px in MMA_COLUMNS:
        t.add_column(f"MMA@{px}", justify="right")
    for col in ("kpts", "matches", "no match"):
        t.add_column(col, justify="right")
    for label, r, g, last in _rows(results):
        mma = r.mma(g)
        t.add_row(label, g, *[_pct(mma[px - 1]) for px in MMA_COLUMNS], _num(r.mean_keypoints(g), "{:.0f}"),
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
                         "pairs_without_matches": "accuracy 0, homography failure"},
            "methods": [r.to_dict() for r in results]}


def write_json(results: Sequence[ImageMatchingResult], path) -> None:
    write_json_atomic(path, to_json(results))


def plot_mma(results: Sequence[ImageMatchingResult], path) -> None:
    """MMA curves, 1..10 px: one panel each for illumination, viewpoint and overall, one line per method (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    for ax, g in zip(axes, ("i", "v", "overall")):
        for n, r in enumerate(results):
            mma = r.mma(g)
            if mma is None:
                continue
            ax.plot(THRESHOLDS, mma, marker="o", markersize=3, color=f"C{n % 10}",
                    linestyle=("-", "--", "-.", ":")[(n // 10) % 4], label=f"{r.method} ({100 * mma[2]:.1f}% @3px)")
        ax.set_title(f"{GROUP_TITLES[g]} ({results[0].n_pairs(g)} pairs)")
        ax.set_xlabel("threshold (px)")
        ax.set_xticks(THRESHOLDS)
        ax.set_xlim(1, 10)
        ax.set_ylim(0, 1)
        ax.grid(linestyle="--", alpha=0.5)
        if ax.get_lines():
            ax.legend(loc="lower right", fontsize=8)
    axes[0].set_ylabel("MMA")
    fig.suptitle(title(results), fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
