"""Match the features of two images: mutual nearest neighbours under L2, optional ratio test.

Nearest neighbours come from the HPatches benchmark's kernel
(:func:`hpdesc.benchmark.distances.nearest_neighbours`: a float32 matrix product finds candidates,
near-ties are re-ranked in exact float64, the first index wins a tie), run both ways; there is
one nearest-neighbour rule in hpdesc.
"""

from __future__ import annotations

import numpy as np

from hpdesc.benchmark.distances import cross_monotone, nearest_neighbours
from hpdesc.errors import DataFormatError

_BLOCK = 4096  # rows of the distance matrix held at once


def _second_nearest(a: np.ndarray, b: np.ndarray, nn: np.ndarray) -> np.ndarray:
    """For each row of ``a`` the L2 distance to its second nearest row of ``b`` (inf with one row)."""
    out = np.full(len(a), np.inf)
    if b.shape[0] < 2:
        return out
    b_sq = np.einsum("ij,ij->i", b.astype(np.float64), b.astype(np.float64))
    for s in range(0, len(a), _BLOCK):
        d = cross_monotone(a[s:s + _BLOCK], b, "L2", b_sq)
        d[np.arange(len(d)), nn[s:s + _BLOCK]] = np.inf
        out[s:s + len(d)] = np.sqrt(d.min(axis=1))
    return out


def check_ratio(ratio: float | None) -> None:
    """The one check of Lowe's ratio option: None (no test) or a number in (0, 1] (else a UsageError)."""
    from hpdesc.errors import UsageError

    if ratio is not None and not 0.0 < float(ratio) <= 1.0:
        raise UsageError(f"ratio must be in (0, 1], got {ratio}")


def mutual_nn(desc1: np.ndarray, desc2: np.ndarray, ratio: float | None = None) -> np.ndarray:
    """Mutual nearest-neighbour matches ``(M, 2)`` of row indices into ``desc1`` and ``desc2``.

    ``i`` matches ``j`` when ``j`` is ``i``'s nearest neighbour in ``desc2`` and ``i`` is ``j``'s in
    ``desc1`` (the protocol's matching rule). With ``ratio`` (Lowe's test, e.g. 0.8), a match is
    also kept only if its distance is below ``ratio`` times the distance to ``i``'s second nearest.
    """
    a = np.ascontiguousarray(desc1, dtype=np.float32)
    b = np.ascontiguousarray(desc2, dtype=np.float32)
    if a.ndim != 2 or b.ndim != 2:
        raise DataFormatError(f"descriptors must be N x D arrays, got shapes {a.shape} and {b.shape}")
    if len(a) and len(b) and a.shape[1] != b.shape[1]:
        raise DataFormatError(f"descriptor widths differ: {a.shape[1]} vs {b.shape[1]}")
    check_ratio(ratio)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((0, 2), np.int64)
    # the benchmark's kernel both ways (exact L2, the first index on ties): i and j are mutual
    # nearest neighbours when each is the other's
    nn12, d1 = nearest_neighbours(a, b, "L2", _BLOCK)
    nn21, _ = nearest_neighbours(b, a, "L2", _BLOCK)
    keep = nn21[nn12] == np.arange(len(a))
    if ratio is not None:
        keep &= d1 < ratio * _second_nearest(a, b, nn12)
    i = np.arange(len(a))
    return np.stack([i[keep], nn12[keep]], axis=1).astype(np.int64)


# -- geometry: a robust homography from the matches ----------------------------------------------
HOMOGRAPHY_METHOD = "USAC_MAGSAC"
"""OpenCV's robust estimator used for homographies (MAGSAC++ inside OpenCV's USAC framework)."""
HOMOGRAPHY_THRESHOLD = 3.0
"""Reprojection threshold (pixels) of the robust estimator."""


def estimate_homography(pts1: np.ndarray, pts2: np.ndarray, threshold: float = HOMOGRAPHY_THRESHOLD):
    """``(H, inlier mask)``: the homography mapping ``pts1`` to ``pts2`` (both ``(M, 2)`` pixels) by
    ``cv2.findHomography(..., cv2.USAC_MAGSAC, threshold)``; ``H`` is None (and no inliers) with fewer
    than 4 matches or when OpenCV finds none."""
    import cv2

    pts1 = np.asarray(pts1, np.float64).reshape(-1, 2)
    pts2 = np.asarray(pts2, np.float64).reshape(-1, 2)
    mask = np.zeros(len(pts1), bool)
    if len(pts1) < 4:
        return None, mask
    try:
        H, m = cv2.findHomography(pts1, pts2, cv2.USAC_MAGSAC, float(threshold), maxIters=10000, confidence=0.999)
    except cv2.error:  # degenerate sample sets (all points on a line, duplicates)
        return None, mask
    if H is None or m is None or not np.isfinite(H).all() or abs(H[2, 2]) < 1e-12:
        return None, mask
    return H / H[2, 2], m.reshape(-1).astype(bool)


def match_pair(feats1, feats2, ratio: float | None = None, threshold: float = HOMOGRAPHY_THRESHOLD) -> dict:
    """Mutual-NN matches of two :class:`~hpdesc.matching.features.Features` and a robust homography.

    Returns ``{"matches": (M, 2) int, "inliers": (M,) bool, "H": 3x3 array or None}``.
    """
    if len(feats1) and len(feats2) and feats1.dim != feats2.dim:
        raise DataFormatError(f"descriptor widths differ: {feats1.dim} vs {feats2.dim}")
    matches = mutual_nn(feats1.descriptors, feats2.descriptors, ratio)
    H, inliers = estimate_homography(feats1.keypoints[matches[:, 0]], feats2.keypoints[matches[:, 1]], threshold)
    return {"matches": matches, "inliers": inliers, "H": H}
