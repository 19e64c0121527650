"""Descriptor distances for the three tasks: row-wise, all-pairs, nearest neighbours, gathered pairs.

Everything is float64 arithmetic on the float32 descriptors. :func:`distances_into` gives bit for
bit ``np.sqrt(np.sum((a - b) ** 2))`` (or ``np.sum(np.abs(a - b))``) of each pair, as the
reference evaluator's per-pair loops do; the ``*_monotone`` forms skip the square root where only
the order matters; :func:`nearest_neighbours` resolves ties like ``np.argmin`` over ``cdist``.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

DISTANCES = ("L2", "L1")


def pair_distances(a: np.ndarray, b: np.ndarray, distance: str = "L2") -> np.ndarray:
    """Row-wise distances. Shape: ``(..., D)``, ``(..., D)`` -> ``(...)`` float64."""
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if distance == "L1":
        return np.abs(diff).sum(axis=-1)
    return np.sqrt(np.einsum("...k,...k->...", diff, diff))


def pair_monotone(a, b, distance):
    """Row-wise squared L2 (or L1): same order as the distance, cheaper to compare."""
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if distance == "L1":
        return np.abs(diff).sum(axis=-1)
    return np.einsum("...k,...k->...", diff, diff)


def cross_monotone(a: np.ndarray, b: np.ndarray, distance: str, b_sq: np.ndarray | None = None) -> np.ndarray:
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
    if distance == "L2":
        # the candidate search runs in float32 (half the cost of the float64 product); its tolerance
        # covers float32's worst-case rounding of a D-term dot product (D * 2^-24 * |a||b| per
        # side), so the true nearest row is always a candidate and the float64 re-rank below keeps
        # the result exact
        b32 = b.astype(np.float32)
        half_b32 = half_b.astype(np.float32)
        rel = 4.0 * (b.shape[1] + 2) * 2.0 ** -24
    for lo in range(0, a.shape[0], block):
        blk = a[lo:lo + block]
        if distance == "L2":
            # |a|^2 is constant per row: rank by |b|^2 / 2 - a.b (one matrix product, few passes)
            d = blk.astype(np.float32) @ b32.T
            np.subtract(half_b32[None, :], d, out=d)
            scale = 0.5 * (np.einsum("ij,ij->i", blk, blk)[:, None] + b_sq.max())
            best = d.min(axis=1, keepdims=True)
            tol = (rel * scale).astype(np.float32)
        else:
            d = cross_monotone(blk, b, distance)
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



def run_blocks(fn, starts, workers: int | None = None) -> None:
    """``fn(start)`` for every block start, in ``workers`` threads (default: one per core).

    For loops whose blocks write disjoint slices of a preallocated output: numpy releases the GIL
    in its array work, so the blocks run in parallel and the result is the sequential one.
    """
    starts = list(starts)
    workers = max(1, min(workers or os.cpu_count() or 1, len(starts)))
    if workers == 1:
        for lo in starts:
            fn(lo)
        return
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fn, starts))  # list(): re-raises a block's error


def distances_into(flat: np.ndarray, a_idx: np.ndarray, b_idx: Sequence[np.ndarray], outs: Sequence[np.ndarray],
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


def distances_parallel(flat: np.ndarray, a_idx: np.ndarray, b_idx: Sequence[np.ndarray],
                       outs: Sequence[np.ndarray], distance: str, block: int, workers: int | None = None,
                       flat_b: np.ndarray | None = None) -> None:
    """:func:`distances_into` over contiguous slices of the pairs in threads (numpy releases the GIL).

    Each thread owns its buffers and writes a disjoint slice of ``outs``, so the result is bit for
    bit the single-threaded one.
    """
    n = a_idx.shape[0]
    workers = max(1, min(workers or os.cpu_count() or 1, n // max(block, 1)))
    if workers == 1:
        distances_into(flat, a_idx, b_idx, outs, distance, block, flat_b)
        return
    bounds = np.linspace(0, n, workers + 1).astype(np.int64)

    def part(k: int) -> None:
        lo, hi = int(bounds[k]), int(bounds[k + 1])
        distances_into(flat, a_idx[lo:hi], [b[lo:hi] for b in b_idx], [o[lo:hi] for o in outs], distance, block,
                       flat_b)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(part, range(workers)))

