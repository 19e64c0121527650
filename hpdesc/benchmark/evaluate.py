"""The three HPatches tasks (verification, matching, retrieval), vectorised and chunked.

Follows the reference Python evaluator (hpatches-benchmark ``utils/tasks.py``) for
``protocol="python"`` and the paper / MATLAB definitions for ``protocol="paper"``
(docs/benchmark.md). Distances are computed in float64 from the float32 descriptors. Memory is
bounded: verification pairs, retrieval queries and matching rows are processed in blocks.

Values are fractions in [0, 1] (reports print them as percentages).
"""

from __future__ import annotations

import dataclasses
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hpdesc.benchmark.metrics import ap_from_ranks, average_precision, merged_positive_ranks, roc_auc_sorted
from hpdesc.benchmark.tasks import Tasks, load_tasks
from hpdesc.data.images import LEVELS, image_index
from hpdesc.errors import DataFormatError, UsageError
from hpdesc.progress import Reporter

TASK_NAMES = ("verification", "matching", "retrieval")
PROTOCOLS = ("python", "paper")
DISTANCES = ("L2", "L1")
POOL_SIZES = (100, 500, 1000, 5000, 10000, 15000, 20000)
EVALUATOR_VERSION = 1
_N_POS = 5
_NSEG = len(POOL_SIZES) + 2  # pools, "beyond the largest pool", masked (same sequence)
_NBIN = 3 * _N_POS + 1


@dataclass
class BenchmarkResult:
    """Headline numbers and breakdowns of one descriptor set on one split."""

    descriptor: str
    descriptors_path: str
    dataset: str
    split: str
    protocol: str
    distance: str
    headline: dict[str, float] = field(default_factory=dict)
    breakdown: dict[str, dict] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float:
        vals = [self.headline[t] for t in TASK_NAMES if t in self.headline]
        return float(np.mean(vals)) if vals else float("nan")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["mean"] = self.mean
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BenchmarkResult":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# -- distances ---------------------------------------------------------------------------------

def _check(distance: str, protocol: str) -> None:
    if distance not in DISTANCES:
        raise UsageError(f"unknown distance {distance!r}; use one of {', '.join(DISTANCES)}")
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")


def pair_distances(a: np.ndarray, b: np.ndarray, distance: str = "L2") -> np.ndarray:
    """Row-wise distances. Shape: ``(..., D)``, ``(..., D)`` -> ``(...)`` float64."""
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if distance == "L1":
        return np.abs(diff).sum(axis=-1)
    return np.sqrt(np.einsum("...k,...k->...", diff, diff))


def _pair_monotone(a, b, distance):
    """Row-wise squared L2 (or L1): same order as the distance, cheaper to compare."""
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if distance == "L1":
        return np.abs(diff).sum(axis=-1)
    return np.einsum("...k,...k->...", diff, diff)


def _cross_monotone(a: np.ndarray, b: np.ndarray, distance: str, b_sq: np.ndarray | None = None) -> np.ndarray:
    """All-pairs squared L2 (matrix product expansion) or L1 (blocked). ``(n, D), (m, D) -> (n, m)``."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if distance == "L1":
        out = np.zeros((a.shape[0], b.shape[0]))
        for k in range(a.shape[1]):
            out += np.abs(a[:, k, None] - b[None, :, k])
        return out
    if b_sq is None:
        b_sq = np.einsum("ij,ij->i", b, b)
    out = a @ b.T
    out *= -2.0
    out += np.einsum("ij,ij->i", a, a)[:, None]
    out += b_sq[None, :]
    np.maximum(out, 0.0, out=out)
    return out


def nearest_neighbours(a: np.ndarray, b: np.ndarray, distance: str = "L2", block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``a`` its nearest row of ``b`` (first index on ties) and that distance.

    The candidate set is found with the fast expansion; rows with near-ties are re-ranked with the
    exact formula so identical descriptors resolve to the first index, as ``np.argmin`` on
    ``scipy.spatial.distance.cdist`` does. Shape: ``(n, D), (m, D) -> (n,), (n,)``.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    b_sq = np.einsum("ij,ij->i", b, b)
    idx = np.empty(a.shape[0], dtype=np.int64)
    half_b = 0.5 * b_sq
    for lo in range(0, a.shape[0], block):
        blk = a[lo:lo + block]
        if distance == "L2":
            # |a|^2 is constant per row: rank by |b|^2 / 2 - a.b (one matrix product, few passes)
            d = blk @ b.T
            np.subtract(half_b[None, :], d, out=d)
            scale = 0.5 * (np.einsum("ij,ij->i", blk, blk)[:, None] + b_sq.max())
            best = d.min(axis=1, keepdims=True)
            tol = 1e-11 * scale
        else:
            d = _cross_monotone(blk, b, distance)
            best = d.min(axis=1, keepdims=True)
            tol = 1e-9 * (np.abs(best) + 1e-12)
        cand = d <= best + tol
        nn = np.argmax(cand, axis=1)  # first candidate
        multi = np.nonzero(np.count_nonzero(cand, axis=1) > 1)[0]
        for r in multi:
            cols = np.nonzero(cand[r])[0]
            exact = pair_distances(blk[r][None], b[cols], distance)
            nn[r] = cols[int(np.argmin(exact))]
        idx[lo:lo + block] = nn
    return idx, pair_distances(a, b[idx], distance)


# -- verification --------------------------------------------------------------------------

VERIF_BLOCK = 2048  # pairs per gather: the float64 work buffers stay in cache
VERIF_MEMORY_BYTES = 1 << 30  # descriptor bytes verification holds at once (see _verification)


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


def _distances_into(flat: np.ndarray, a_idx: np.ndarray, b_idx: Sequence[np.ndarray], outs: Sequence[np.ndarray],
                    distance: str, block: int, flat_b: np.ndarray | None = None) -> None:
    """``outs[k][j] = dist(flat[a_idx[j]], flat_b[b_idx[k][j]])`` for every pair, in blocks.

    ``flat_b`` defaults to ``flat``. float64 arithmetic on the float32 rows with numpy's row-wise
    pairwise sum, i.e. bit for bit ``np.sqrt(np.sum((a - b) ** 2))`` (or ``np.sum(np.abs(a - b))``)
    of each pair. Memory: a few ``(block, D)`` buffers, reused.
    """
    flat_b = flat if flat_b is None else flat_b
    n, dim = a_idx.shape[0], flat.shape[1]
    block = max(1, min(block, n))
    a32 = np.empty((block, dim), flat.dtype)
    b32 = np.empty((block, dim), flat.dtype)
    a64 = np.empty((block, dim), np.float64)
    diff = np.empty((block, dim), np.float64)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        m = hi - lo
        a = a64[:m]
        a[...] = np.take(flat, a_idx[lo:hi], axis=0, out=a32[:m])
        d = diff[:m]
        for idx, out in zip(b_idx, outs):
            np.subtract(a, np.take(flat_b, idx[lo:hi], axis=0, out=b32[:m]), out=d)
            o = out[lo:hi]
            if distance == "L1":
                np.abs(d, out=d)
                np.add.reduce(d, axis=1, out=o)
            else:
                np.multiply(d, d, out=d)
                np.add.reduce(d, axis=1, out=o)
                np.sqrt(o, out=o)


def _distances_parallel(flat: np.ndarray, a_idx: np.ndarray, b_idx: Sequence[np.ndarray],
                        outs: Sequence[np.ndarray], distance: str, block: int, workers: int | None = None,
                        flat_b: np.ndarray | None = None) -> None:
    """:func:`_distances_into` over contiguous slices of the pairs in threads (numpy releases the GIL).

    Each thread owns its buffers and writes a disjoint slice of ``outs``, so the result is bit for
    bit the single-threaded one.
    """
    n = a_idx.shape[0]
    workers = max(1, min(workers or os.cpu_count() or 1, n // max(block, 1)))
    if workers == 1:
        _distances_into(flat, a_idx, b_idx, outs, distance, block, flat_b)
        return
    bounds = np.linspace(0, n, workers + 1).astype(np.int64)

    def part(k: int) -> None:
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        _distances_into(flat, a_idx[lo:hi], [b[lo:hi] for b in b_idx], [o[lo:hi] for o in outs], distance, block,
                        flat_b)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(part, range(workers)))


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
        _distances_parallel(flat_a, (first_a[r[:, 0]] + r[:, 2]) * ncol + r[:, 1],
                            [(first_b[r[:, 3]] + r[:, 5]) * ncol + r[:, 4]], [out], distance, block, flat_b=flat_b)
        dist[k][sel] = out


def _verification(desc, tasks: Tasks, protocol: str, distance: str, block: int, tick,
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
                _distances_parallel(flat, rows_of(v["pos"], 0), [rows_of(v[k], 1) for k in kinds],
                                    [dist[k] for k in kinds], distance, block)
            else:
                for k in kinds:
                    _distances_parallel(flat, rows_of(v[k], 0), [rows_of(v[k], 1)], [dist[k]], distance, block)
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


# -- matching --------------------------------------------------------------------------------

def _matching(desc, tasks: Tasks, test: Sequence[str], protocol: str, distance: str, block: int, tick) -> dict:
    per_seq: dict[str, dict[str, list[float]]] = {}
    for seq in test:
        x = np.ascontiguousarray(desc.get(seq).transpose(1, 0, 2), dtype=np.float64)  # (16, N, D)
        n = x.shape[1]
        gt = np.arange(n)
        scores, labels = [], []
        for level in LEVELS:
            for i in range(1, 6):
                nn, d = nearest_neighbours(x[0], x[image_index(level, i)], distance, block)
                scores.append(-d)
                labels.append(nn == gt)
        ap = average_precision(np.stack(scores), np.stack(labels), numpos=n, variant=protocol)
        per_seq[seq] = {lv: [float(v) for v in ap[k * 5:(k + 1) * 5]] for k, lv in enumerate(LEVELS)}
        tick()
    by_level = {lv: float(np.mean([per_seq[s][lv] for s in test])) for lv in LEVELS}
    groups = {}
    for lv in LEVELS:
        for kind in ("i", "v"):
            seqs = [s for s in test if s.split("_")[0] == kind]
            if seqs:
                groups[f"{lv}_{kind}"] = float(np.mean([np.mean(per_seq[s][lv]) for s in seqs]))
    if protocol == "paper" and groups:
        value = float(np.mean(list(groups.values())))
    else:
        value = float(np.mean(list(by_level.values())))
    kinds = {k: float(np.mean([v for g, v in groups.items() if g.endswith(k)])) for k in ("_i", "_v")
             if any(g.endswith(k) for g in groups)}
    return {"value": value, "breakdown": {
        "levels": by_level, "groups": groups, "i_v": {k[1:]: v for k, v in kinds.items()},
        "sequences": {s: {lv: float(np.mean(v)) for lv, v in d.items()} for s, d in per_seq.items()},
    }}


# -- retrieval ----------------------------------------------------------------------------------

def _segment_maps(d_seq: np.ndarray, q_seqs: np.ndarray) -> dict[int, np.ndarray]:
    """Per query sequence: the pool segment of every distractor (masked ones get the last)."""
    limits = np.array([k - _N_POS for k in POOL_SIZES])
    maps = {}
    for s in np.unique(q_seqs):
        keep = d_seq != s
        rank = np.cumsum(keep) - 1
        seg = np.searchsorted(limits, rank, side="right").astype(np.uint8)
        seg[~keep] = _NSEG - 1
        maps[int(s)] = seg
    return maps


def retrieval_aps(q_ref, q_pos, d_ref, q_seq, d_seq, protocol="python", distance="L2", block=256) -> np.ndarray:
    """Retrieval APs of every query.

    Shape: ``q_ref (Q, D)`` query descriptors; ``q_pos (Q, 3, 5, D)`` the positives (images n1..n5
    for each level e/h/t); ``d_ref (Dn, D)``; ``q_seq (Q,)``, ``d_seq (Dn,)`` sequence ids.
    Returns ``(Q, 3, 7)`` (python: one AP per level and pool size) or ``(Q, 3)`` (paper).

    Method: a positive's rank is 1 + the positives before it (stable: ties go to the positive,
    which comes first in the list) + the unmasked distractors with a strictly smaller distance in
    the pool. Each distractor gets a segment (the smallest pool it is in) and a bin (how many of the
    query's 15 positive distances are <= its distance); a per-query histogram over (segment, bin),
    summed cumulatively, gives every positive's count for every pool at once.
    """
    q_ref = np.asarray(q_ref, np.float64)
    d_ref = np.asarray(d_ref, np.float64)
    Q = q_ref.shape[0]
    segmaps = _segment_maps(np.asarray(d_seq), np.asarray(q_seq))
    d_sq = np.einsum("ij,ij->i", d_ref, d_ref) if distance == "L2" else None
    n_pool = len(POOL_SIZES)
    out = np.empty((Q, 3, n_pool)) if protocol == "python" else np.empty((Q, 3))
    m = np.arange(1, _N_POS + 1, dtype=np.float64)
    for lo in range(0, Q, block):
        hi = min(Q, lo + block)
        B = hi - lo
        qr = q_ref[lo:hi]
        dpos = _pair_monotone(qr[:, None, None, :], np.asarray(q_pos[lo:hi], np.float64), distance)  # (B,3,5)
        v = np.sort(dpos.reshape(B, -1), axis=1)  # (B,15)
        dist = _cross_monotone(qr, d_ref, distance, d_sq)  # (B, Dn)
        bins = np.zeros(dist.shape, dtype=np.uint8)
        for g in range(v.shape[1]):
            bins += dist >= v[:, g:g + 1]
        del dist
        seg = np.stack([segmaps[int(s)] for s in q_seq[lo:hi]])
        key = seg.astype(np.int32) * _NBIN
        key += bins
        key += (np.arange(B, dtype=np.int32) * (_NSEG * _NBIN))[:, None]
        hist = np.bincount(key.ravel(), minlength=B * _NSEG * _NBIN).reshape(B, _NSEG, _NBIN)
        cum = np.cumsum(np.cumsum(hist[:, :-1], axis=1), axis=2)  # (B, 8, 16): seg <= i and bin <= g
        order = np.argsort(dpos, axis=2, kind="stable")
        dsorted = np.take_along_axis(dpos, order, axis=2)  # (B,3,5)
        g_first = (v[:, None, None, :] < dsorted[..., None]).sum(axis=3)  # (B,3,5)
        # counts[b, lv, i, p] = cum[b, i, g_first[b, lv, p]]
        counts = np.take_along_axis(cum[:, None, :, :], g_first[:, :, None, :].repeat(cum.shape[1], axis=2), axis=3)
        ranks = m + counts  # (B, 3, 8, 5)
        if protocol == "python":
            ap = ap_from_ranks(ranks[:, :, :n_pool].reshape(-1, _N_POS), _N_POS, "python")
            out[lo:hi] = ap.reshape(B, 3, n_pool)
        else:
            ap = ap_from_ranks(ranks[:, :, n_pool].reshape(-1, _N_POS), _N_POS, "paper")
            out[lo:hi] = ap.reshape(B, 3)
    return out


def _retrieval(desc, tasks: Tasks, protocol: str, distance: str, block: int, tick) -> dict:
    q, dtab = tasks.queries, tasks.distractors
    if q.shape[0] == 0 or dtab.shape[0] == 0:
        raise DataFormatError(f"split {tasks.split!r}: no retrieval queries or distractors")
    D = desc.dim
    q_ref = np.empty((q.shape[0], D), np.float32)
    q_pos = np.empty((q.shape[0], 3, _N_POS, D), np.float32)
    d_ref = np.empty((dtab.shape[0], D), np.float32)
    pos_cols = [[image_index(lv, i) for i in range(1, 6)] for lv in LEVELS]
    for s in np.unique(np.concatenate([q[:, 0], dtab[:, 0]])):
        x = desc.get(tasks.names[int(s)])
        qs = np.nonzero(q[:, 0] == s)[0]
        if qs.size:
            rows = x[q[qs, 1]]
            q_ref[qs] = rows[:, 0]
            for k, cols in enumerate(pos_cols):
                q_pos[qs, k] = rows[:, cols]
        ds = np.nonzero(dtab[:, 0] == s)[0]
        d_ref[ds] = x[dtab[ds, 1], 0]
    tick()
    aps = retrieval_aps(q_ref, q_pos, d_ref, q[:, 0], dtab[:, 0], protocol, distance, block)
    tick()
    if protocol == "python":
        table = aps.mean(axis=0)  # (3, 7)
        return {"value": float(table.mean()), "breakdown": {
            "levels": {lv: float(table[k].mean()) for k, lv in enumerate(LEVELS)},
            "pools": {lv: {str(p): float(table[k, j]) for j, p in enumerate(POOL_SIZES)} for k, lv in enumerate(LEVELS)},
            "queries": int(q.shape[0]), "distractors": int(dtab.shape[0]),
        }}
    per = aps.mean(axis=0)
    return {"value": float(per.mean()), "breakdown": {
        "levels": {lv: float(per[k]) for k, lv in enumerate(LEVELS)},
        "queries": int(q.shape[0]), "distractors": int(dtab.shape[0]),
    }}


# -- entry point -------------------------------------------------------------------------------

def _default_split(config: dict, splits: dict) -> str:
    for cand in (config.get("split"), "a"):
        if cand and cand in splits:
            return cand
    if not splits:
        raise DataFormatError("the dataset defines no splits")
    return sorted(splits)[0]


def evaluate(descriptors, dataset=None, *, tasks: Sequence[str] = TASK_NAMES, split: str | None = None,
             protocol: str = "python", distance: str = "L2", tasks_dir=None, cache: bool | str | Path = True,
             block: int = 256, reporter: Reporter | None = None,
             memory: int | None = None) -> BenchmarkResult:
    """Benchmark a descriptor file on a patch dataset with the HPatches protocol.

    ``descriptors``: path or :class:`~hpdesc.data.descfile.DescriptorSet`; ``dataset``: path,
    :class:`~hpdesc.data.store.PatchDataset` or None (the one recorded in the descriptor file).
    ``cache``: True (default cache dir), a directory, or False. ``reporter``: one bar per task
    computed (``start``, an ``advance`` per step, ``done``; a cached task has none). ``memory``: bytes of
    descriptors held at once (default :data:`VERIF_MEMORY_BYTES`); verification reads larger
    files in parts, matching holds one sequence, retrieval only its queries and distractors.
    """
    from hpdesc.benchmark import cache as _cache
    from hpdesc.data.descfile import DescriptorSet, open_descriptors
    from hpdesc.data.store import PatchDataset, open_dataset

    _check(distance, protocol)
    unknown = [t for t in tasks if t not in TASK_NAMES]
    if unknown:
        raise UsageError(f"unknown task {unknown[0]!r}; use one of {', '.join(TASK_NAMES)}")
    own_desc = not isinstance(descriptors, DescriptorSet)
    desc = open_descriptors(descriptors) if own_desc else descriptors
    own_ds = not isinstance(dataset, PatchDataset)
    ds = None
    try:
        cfg = desc.config
        if dataset is None:
            dataset = cfg.get("dataset")
            if not dataset:
                raise UsageError(f"{desc.path}: records no dataset; pass --data DATASET")
            if not Path(dataset).exists():
                raise UsageError(f"{desc.path} was made from {dataset}, which does not exist; pass --data DATASET")
        if own_ds:  # opened read-only: benchmarking never writes its input (tasks: load_tasks)
            ds = open_dataset(Path(dataset))
        else:
            ds = dataset
        notes: list[str] = []
        if cfg.get("dataset_uid") and cfg["dataset_uid"] != ds.uid:
            notes.append(f"{desc.path} was computed on another dataset (uid {cfg['dataset_uid'][:8]}, "
                         f"this is {ds.uid[:8]})")
        split = split or _default_split(cfg, ds.splits)
        test = ds.split(split).get("test", [])
        if not test:
            raise DataFormatError(f"{ds.path}: split {split!r} has no test sequences")
        missing = [s for s in test if s not in desc._pos]
        if missing:
            raise DataFormatError(f"{desc.path}: no descriptors for {len(missing)} test sequence(s) of split "
                                  f"{split!r} (e.g. {', '.join(missing[:3])})",
                                  hint="describe the split's test sequences (hpdesc describe --split ...)")
        bad = [s for s in test if desc.count(s) != ds.count(s)]
        if bad:
            s = bad[0]
            raise DataFormatError(f"{desc.path}: {s} has {desc.count(s)} descriptor rows, the dataset has {ds.count(s)} patches")
        t = load_tasks(ds, split, tasks_dir, cache=cache)
        notes.extend(t.notes)
        missing_t = [n for n in t.names if n not in desc._pos]
        if missing_t:
            raise DataFormatError(f"{desc.path}: the tasks use sequence {missing_t[0]!r}, which has no descriptors")
        result = BenchmarkResult(descriptor=desc.label, descriptors_path=str(desc.path), dataset=str(ds.path),
                                 split=split, protocol=protocol, distance=distance, sources=dict(t.sources),
                                 notes=notes)
        cdir = _cache.cache_dir(cache)
        fp = desc.fingerprint
        t_hash = t.content_hash if cdir else None  # sha256 of ~150 MB of pairs: once, and only for the cache
        for task in [x for x in TASK_NAMES if x in tasks]:
            key = _cache.cache_key(fp, t_hash, protocol, distance, task, EVALUATOR_VERSION) if cdir else None
            hit = _cache.get(cdir, key) if cdir else None
            if hit is None:
                steps = {"verification": 3, "matching": len(test), "retrieval": 2}[task]
                rep = reporter if reporter is not None else Reporter()
                rep.start(f"{Path(str(desc.path)).name}: {task}", steps)
                tick = rep.advance
                t0 = time.perf_counter()
                if task == "verification":
                    hit = _verification(desc, t, protocol, distance, VERIF_BLOCK, tick, memory)
                elif task == "matching":
                    hit = _matching(desc, t, test, protocol, distance, 1024, tick)
                else:
                    hit = _retrieval(desc, t, protocol, distance, block, tick)
                result.seconds[task] = time.perf_counter() - t0
                rep.done()
                if cdir:
                    _cache.put(cdir, key, hit)
            else:
                result.cached.append(task)
            result.headline[task] = hit["value"]
            result.breakdown[task] = hit["breakdown"]
        return result
    finally:
        if own_desc:
            desc.close()
        if own_ds and ds is not None:
            ds.close()
