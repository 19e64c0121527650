"""Average precision and ROC AUC, exactly as the HPatches evaluators compute them, batched.

Conventions (docs/benchmark.md, protocol spec "Average precision"): scores are ``-distance``;
lists are ranked by descending score with a **stable** sort (ties keep input order, no tie
grouping); ``tp``/``fp`` are cumulative counts with a leading 0; recall = tp / max(P, 1e-10),
precision = max(tp, 1e-10) / max(tp + fp, 1e-10). A ``numpos`` larger than the labelled positives
adds positives that are never retrieved (they only enlarge P).

Two AP variants:

* ``"python"``: trapezoidal area under (recall, precision) from the point (0, 1) — what
  ``np.trapz(precision, recall)`` gives in hpatches-benchmark's ``utils/metrics.py``.
* ``"paper"``: VLFeat ``vl_pr`` ``info.ap`` — mean over all P positives of the precision at that
  positive's rank; never-retrieved positives add 0.

Every function works on a 2-D batch ``(M, L)`` (M lists of length L) as well as on one list.
"""

from __future__ import annotations

import numpy as np

SMALL = 1e-10
AP_VARIANTS = ("python", "paper")


def ap_from_ranks(ranks: np.ndarray, numpos, variant: str = "python", valid: np.ndarray | None = None) -> np.ndarray:
    """AP from the 1-based ranks of the retrieved positives.

    Shape: ``ranks`` ``(M, K)`` integer, each row increasing (the k-th retrieved positive is at
    rank ``ranks[:, k]``); ``valid`` ``(M, K)`` bool marks real entries (default all);
    ``numpos`` scalar or ``(M,)``. Returns ``(M,)`` float64.
    """
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.ndim == 1:
        ranks = ranks[None]
    m_idx = np.cumsum(np.ones_like(ranks) if valid is None else valid.astype(np.float64), axis=1)
    if valid is None:
        valid = np.ones(ranks.shape, dtype=bool)
    P = np.broadcast_to(np.asarray(numpos, dtype=np.float64), (ranks.shape[0],))
    prec = m_idx / np.maximum(ranks, SMALL)  # tp >= 1 at a positive
    if variant == "paper":
        terms = np.where(valid, prec, 0.0)
        return terms.sum(axis=1) / np.maximum(P, SMALL) * (P > 0)
    if variant != "python":
        raise ValueError(f"unknown AP variant {variant!r}; use one of {', '.join(AP_VARIANTS)}")
    # trapezoid step at each positive: recall += 1/P, precision goes from the point just
    # before it (tp = m - 1 over rank - 1 items) to m / rank.
    prev = np.maximum(m_idx - 1, SMALL) / np.maximum(ranks - 1, SMALL)
    terms = np.where(valid, (prev + prec) * 0.5, 0.0)
    return terms.sum(axis=1) / np.maximum(P, SMALL)


def merged_positive_ranks(neg_sorted: np.ndarray, pos_sorted: np.ndarray) -> np.ndarray:
    """1-based ranks of the positives in the stable ranking of the list ``[neg; pos]``.

    The list is ranked by ascending distance (= descending score) with a stable sort, negatives
    listed first, so on a tie a negative precedes a positive. Both inputs are the distances
    sorted ascending; the k-th smallest positive is then at rank ``k + #(negatives <= it)``
    (earlier positives come before it whatever their input order, since ties among positives do
    not change which ranks positives hold). Same result as ``np.nonzero(labels[np.argsort(
    np.concatenate([neg, pos]), kind="stable")])[0] + 1``, with one binary search per positive
    instead of an argsort of the concatenation.
    Shape: ``(N,)``, ``(P,)`` -> ``(P,)`` int64.
    """
    neg_sorted = np.asarray(neg_sorted)
    pos_sorted = np.asarray(pos_sorted)
    return np.arange(1, pos_sorted.size + 1, dtype=np.int64) + np.searchsorted(neg_sorted, pos_sorted, side="right")


def roc_auc_sorted(neg_sorted: np.ndarray, pos_sorted: np.ndarray) -> float:
    """:func:`roc_auc` of the list ``[neg; pos]`` (labels 0 then 1), from distances sorted ascending.

    Each negative adds the positives ranked before it (strictly closer: ties go to the negative,
    which is listed first) times 1 / (P N).
    """
    neg_sorted = np.asarray(neg_sorted)
    pos_sorted = np.asarray(pos_sorted)
    before = int(np.searchsorted(pos_sorted, neg_sorted, side="left").sum())
    return float(before / max(pos_sorted.size, SMALL) / max(neg_sorted.size, SMALL))


def _ranked_positives(scores, labels) -> tuple[bool, np.ndarray]:
    """(whether the input was one row, the ``(M, L)`` positive mask in ranked order)."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    one = scores.ndim == 1
    if one:
        scores, labels = scores[None], labels[None]
    return one, _ranked_labels(scores, labels) == 1


def _ranked_labels(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, axis=-1, kind="stable")
    return np.take_along_axis(labels, order, axis=-1)


def average_precision(scores, labels, numpos=None, variant: str = "python") -> np.ndarray | float:
    """AP of one list (1-D input -> float) or of each row of a batch (2-D input -> ``(M,)``).

    Shape: ``scores``, ``labels`` ``(L,)`` or ``(M, L)``; ``numpos`` None, scalar or ``(M,)``
    (must be >= the labelled positives of each row).
    """
    one, lab = _ranked_positives(scores, labels)
    npos_lab = lab.sum(axis=1)
    if numpos is None:
        P = npos_lab.astype(np.float64)
    else:
        P = np.broadcast_to(np.asarray(numpos, dtype=np.float64), npos_lab.shape)
        if np.any(P < npos_lab):
            raise ValueError("numpos smaller than the number of labelled positives")
    kmax = int(npos_lab.max()) if lab.size else 0
    ranks = np.ones((lab.shape[0], max(kmax, 1)), dtype=np.float64)
    valid = np.zeros(ranks.shape, dtype=bool)
    rows, cols = np.nonzero(lab)
    if rows.size:
        # k-th positive of its row: position within the row's run of positives
        starts = np.concatenate([[0], np.cumsum(npos_lab)[:-1]])
        k = np.arange(rows.size) - np.repeat(starts, npos_lab)
        ranks[rows, k] = cols + 1
        valid[rows, k] = True
    ap = ap_from_ranks(ranks, P, variant, valid)
    return float(ap[0]) if one else ap


def roc_auc(scores, labels) -> np.ndarray | float:
    """Area under the ROC curve (trapezoid of tpr over fpr, stable ranking, no tie grouping).

    Shape: ``(L,)`` -> float or ``(M, L)`` -> ``(M,)``.
    """
    one, lab = _ranked_positives(scores, labels)
    tp_before = np.cumsum(lab, axis=1)
    P = lab.sum(axis=1).astype(np.float64)
    N = (~lab).sum(axis=1).astype(np.float64)
    # at a negative the tpr is flat, so each negative adds tpr * (1 / N)
    area = np.where(~lab, tp_before, 0).sum(axis=1) / np.maximum(P, SMALL) / np.maximum(N, SMALL)
    return float(area[0]) if one else area
