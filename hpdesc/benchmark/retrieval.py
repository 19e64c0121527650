"""HPatches retrieval: find a query's 5 positives among distractors, AP per level and pool size.

Queries and distractors come from :class:`~hpdesc.data.tasks.Tasks`; the ranking follows the
reference evaluator's ``eval_retrieval`` (pools of the first k distractors, the query's own
sequence masked; docs/benchmark.md), computed per block of queries with histograms instead of a
sort per query (:func:`retrieval_aps`).
"""

from __future__ import annotations

import numpy as np

from hpdesc.benchmark.distances import cross_monotone, pair_monotone, run_blocks
from hpdesc.benchmark.metrics import ap_from_ranks
from hpdesc.data.images import LEVELS, image_index
from hpdesc.data.tasks import Tasks
from hpdesc.errors import DataFormatError

POOL_SIZES = (100, 500, 1000, 5000, 10000, 15000, 20000)
_N_POS = 5
_NSEG = len(POOL_SIZES) + 2  # pools, "beyond the largest pool", masked (same sequence)
_NBIN = 3 * _N_POS + 1


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


def retrieval_aps(q_ref, q_pos, d_ref, q_seq, d_seq, protocol="python", distance="L2", block=256,
                  workers: int | None = None) -> np.ndarray:
    """Retrieval APs of every query.

    Shape: ``q_ref (Q, D)`` query descriptors; ``q_pos (Q, 3, 5, D)`` the positives (images n1..n5
    for each level e/h/t); ``d_ref (Dn, D)``; ``q_seq (Q,)``, ``d_seq (Dn,)`` sequence ids.
    Returns ``(Q, 3, 7)`` (python: one AP per level and pool size) or ``(Q, 3)`` (paper).

    Method: a positive's rank is 1 + the positives before it (stable: ties go to the positive,
    which comes first in the list) + the unmasked distractors with a strictly smaller distance in
    the pool. Each distractor gets a segment (the smallest pool it is in) and a bin (how many of the
    query's 15 positive distances are <= its distance); a per-query histogram over (segment, bin),
    summed cumulatively, gives every positive's count for every pool at once. Blocks of queries
    run in ``workers`` threads (default: one per core); each writes its own rows, so the result
    does not depend on the number.
    """
    q_ref = np.asarray(q_ref, np.float64)
    d_ref = np.asarray(d_ref, np.float64)
    Q = q_ref.shape[0]
    segmaps = _segment_maps(np.asarray(d_seq), np.asarray(q_seq))
    d_sq = np.einsum("ij,ij->i", d_ref, d_ref) if distance == "L2" else None
    n_pool = len(POOL_SIZES)
    out = np.empty((Q, 3, n_pool)) if protocol == "python" else np.empty((Q, 3))
    m = np.arange(1, _N_POS + 1, dtype=np.float64)

    def one_block(lo: int) -> None:  # writes out[lo:hi] only: blocks run in threads (numpy releases the GIL)
        hi = min(Q, lo + block)
        B = hi - lo
        qr = q_ref[lo:hi]
        dpos = pair_monotone(qr[:, None, None, :], np.asarray(q_pos[lo:hi], np.float64), distance)  # (B,3,5)
        v = np.sort(dpos.reshape(B, -1), axis=1)  # (B,15)
        dist = cross_monotone(qr, d_ref, distance, d_sq)  # (B, Dn)
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

    run_blocks(one_block, range(0, Q, block), workers)
    return out


def evaluate_retrieval(desc, tasks: Tasks, protocol: str, distance: str, block: int = 256, tick=None) -> dict:
    """Retrieval mAP of the tasks' queries against their distractors; two ``tick``s (gather, rank)."""
    tick = tick or (lambda: None)
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

