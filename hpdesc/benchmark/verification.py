"""HPatches verification: are two patches the same? Balanced ROC AUC and imbalanced AP per level.

Pairs come from :class:`~hpdesc.data.tasks.Tasks` (positives, intra- and inter-sequence
negatives); scores follow the reference evaluator's ``eval_verification`` (docs/benchmark.md).
Memory is bounded by a byte budget: descriptors are read all at once, one level at a time, or in
groups of sequences (:func:`evaluate_verification`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hpdesc.benchmark.distances import distances_parallel
from hpdesc.benchmark.metrics import ap_from_ranks, merged_positive_ranks, roc_auc_sorted
from hpdesc.data.images import LEVELS, image_index
from hpdesc.data.tasks import Tasks

VERIF_BLOCK = 2048  # pairs per gather: the float64 work buffers stay in cache
VERIF_MEMORY_BYTES = 1 << 30  # descriptor bytes verification holds at once (see evaluate_verification)


def verification_scores(d_neg: np.ndarray, d_pos: np.ndarray, protocol: str = "python") -> dict[str, float]:
    """Balanced ROC AUC of [neg; pos] and imbalanced AP of [neg; pos] cut at N_neg + int(0.2 N_pos).

    Ranked by ascending distance with a stable sort (labels: negatives then positives), computed
    from the sorted distances (see :func:`hpdesc.benchmark.metrics.merged_positive_ranks`).
    """
    d_neg = np.asarray(d_neg, np.float64)
    d_pos = np.asarray(d_pos, np.float64)
    return _verification_scores_sorted(np.sort(d_neg), np.sort(d_pos), np.sort(d_pos[:int(d_pos.size * 0.2)]),
                                       protocol)


def _verification_scores_sorted(neg: np.ndarray, pos: np.ndarray, pos_cut: np.ndarray, protocol: str) -> dict[str, float]:
    """:func:`verification_scores` from sorted negatives, positives and first-20% positives."""
    ranks = merged_positive_ranks(neg, pos_cut)
    ap = float(ap_from_ranks(ranks[None], ranks.size, protocol)[0]) if ranks.size else 0.0
    return {"auc": roc_auc_sorted(neg, pos), "ap": ap}



def _sequence_groups(rows: np.ndarray, bytes_per_row: int, budget: int) -> np.ndarray:
    """Group id of each sequence: consecutive sequences packed while a group stays within ``budget`` bytes.

    A sequence larger than the budget forms a group of its own (the bound is then one sequence).
    """
    group = np.empty(rows.shape[0], dtype=np.int64)
    g, used = 0, 0
    for k, r in enumerate(rows):
        size = int(r) * bytes_per_row
        if used and used + size > budget:
            g, used = g + 1, 0
        group[k] = g
        used += size
    return group


def _grouped_distances(desc, names: Sequence[str], seq_rows: np.ndarray, cols: Sequence[int],
                       v: dict[str, np.ndarray], dist: dict[str, np.ndarray], distance: str, block: int,
                       budget: int) -> None:
    """Pair distances of one level with at most two sequence groups (``budget / 2`` bytes each) in memory.

    The pairs of every kind are visited grouped by (group of the first patch, group of the second);
    same numbers as the one-array path (the same per-pair arithmetic), for any descriptor file size.
    """
    ncol = len(cols)
    group = _sequence_groups(seq_rows, ncol * desc.dim * 4, budget // 2)
    n_groups = int(group.max(initial=-1)) + 1
    members = [np.flatnonzero(group == g) for g in range(n_groups)]

    def load(g: int) -> tuple[np.ndarray, np.ndarray]:
        """(flat rows of group ``g``, first row of each of its sequences by name index)."""
        arr, starts = desc.load([names[k] for k in members[g]], cols)
        first = np.full(len(names), -1, dtype=np.int64)
        first[members[g]] = [starts[names[k]] for k in members[g]]
        return arr.reshape(-1, arr.shape[2]), first

    todo = []  # (group of the first patches, group of the second, kind, pair positions)
    for k, rows in v.items():
        key = group[rows[:, 0]] * n_groups + group[rows[:, 3]]
        order = np.argsort(key, kind="stable")
        for sel in np.split(order, np.flatnonzero(np.diff(key[order])) + 1):
            if sel.size:
                todo.append((int(group[rows[sel[0], 0]]), int(group[rows[sel[0], 3]]), k, sel))
    todo.sort(key=lambda x: (x[0], x[1]))
    cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for ga, gb, k, sel in todo:
        for g in [g for g in cache if g not in (ga, gb)]:
            del cache[g]  # evict first: never more than two groups in memory
        for g in (ga, gb):
            if g not in cache:
                cache[g] = load(g)
        (flat_a, first_a), (flat_b, first_b) = cache[ga], cache[gb]
        r = v[k][sel]  # the loaded columns are the level's images in type order: column = type
        out = np.empty(sel.size)
        distances_parallel(flat_a, (first_a[r[:, 0]] + r[:, 2]) * ncol + r[:, 1],
                           [(first_b[r[:, 3]] + r[:, 5]) * ncol + r[:, 4]], [out], distance, block, flat_b=flat_b)
        dist[k][sel] = out


def evaluate_verification(desc, tasks: Tasks, protocol: str, distance: str, block: int = VERIF_BLOCK, tick=None,
                          memory: int | None = None) -> dict:
    """Verification APs / AUCs of every level and negative kind.

    Memory stays within ``memory`` bytes of descriptors (plus the pair tables): the task sequences'
    descriptors are read once (all 16 images) if they fit, else the 6 images of each level in turn,
    else each level in groups of sequences, two groups at a time (:func:`_grouped_distances`). Pair
    distances come from row arithmetic into those flat arrays. Each list is sorted once by value;
    rankings of [neg; pos] come from merging the sorted lists (ties: negatives first), so the
    positives' sort is shared by intra and inter.
    """
    memory = VERIF_MEMORY_BYTES if memory is None else memory
    tick = tick or (lambda: None)
    v = tasks.verif
    kinds = list(v)
    n_pairs = {k: rows.shape[0] for k, rows in v.items()}
    seq_rows = np.array([desc.count(n) for n in tasks.names], dtype=np.int64)
    full = int(seq_rows.sum()) * 16 * desc.dim * 4 <= memory
    grouped = not full and int(seq_rows.sum()) * 6 * desc.dim * 4 > memory
    shared = not grouped and "pos" in v and all(np.array_equal(v[k][:, :3], v["pos"][:, :3]) for k in kinds)
    arr = starts = None
    n_cut = int(n_pairs.get("pos", 0) * 0.2)
    if shared:
        # visit the pairs grouped by their first patch: the gathers of that patch, of the positive
        # (same patch) and of the intra negative (same sequence) then hit memory already cached
        p = v["pos"]
        order = np.argsort(p[:, 0] * (int(p[:, 2].max(initial=0)) + 1) + p[:, 2], kind="stable")
        in_cut = order < n_cut
        v = {k: rows[order] for k, rows in v.items()}
    if full:
        arr, starts = desc.load(tasks.names)
    out: dict = {}
    for level in LEVELS:
        cols = [image_index(level, t) for t in range(6)]
        dist = {k: np.empty(n) for k, n in n_pairs.items()}
        if grouped:
            _grouped_distances(desc, tasks.names, seq_rows, cols, v, dist, distance, block, memory)
        else:
            if full:
                cmap = np.array(cols, dtype=np.int64)
            else:
                arr, starts = desc.load(tasks.names, cols)
                cmap = np.arange(len(cols), dtype=np.int64)
            ncol = arr.shape[1]
            flat = arr.reshape(-1, arr.shape[2])  # (row r, image column c) -> r * ncol + c
            first = np.array([starts[n] for n in tasks.names], dtype=np.int64)

            def rows_of(r, side):
                s, t, i = (r[:, 0], r[:, 1], r[:, 2]) if side == 0 else (r[:, 3], r[:, 4], r[:, 5])
                return (first[s] + i) * ncol + cmap[t]

            if shared:
                distances_parallel(flat, rows_of(v["pos"], 0), [rows_of(v[k], 1) for k in kinds],
                                   [dist[k] for k in kinds], distance, block)
            else:
                for k in kinds:
                    distances_parallel(flat, rows_of(v[k], 0), [rows_of(v[k], 1)], [dist[k]], distance, block)
            if not full:
                arr = flat = None
        pos = dist["pos"]  # in ``order`` when shared (only the first-20% cut needs the input order)
        pos_sorted = np.sort(pos)
        pos_cut = np.sort(pos[in_cut] if shared else pos[:n_cut])
        out[level] = {neg: _verification_scores_sorted(np.sort(dist[f"neg_{neg}"]), pos_sorted, pos_cut, protocol)
                      for neg in ("intra", "inter")}
        tick()
    aps = [out[lv][neg]["ap"] for lv in LEVELS for neg in ("intra", "inter")]
    aucs = [out[lv][neg]["auc"] for lv in LEVELS for neg in ("intra", "inter")]
    return {"value": float(np.mean(aps)), "breakdown": {
        "levels": out,
        "imbalanced_ap": {lv: float(np.mean([out[lv][n]["ap"] for n in ("intra", "inter")])) for lv in LEVELS},
        "intra_ap": float(np.mean([out[lv]["intra"]["ap"] for lv in LEVELS])),
        "inter_ap": float(np.mean([out[lv]["inter"]["ap"] for lv in LEVELS])),
        "balanced_auc": float(np.mean(aucs)),
        "pairs": {k: int(v.shape[0]) for k, v in tasks.verif.items()},
    }}

