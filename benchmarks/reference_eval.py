"""A straightforward per-pair / per-query implementation of the HPatches protocol.

Written from the protocol specification in the shape of the reference Python evaluator
(one distance per pair, one ranked list per query and pool size, ``argsort(kind="mergesort")``
and a trapezoid per list). It is slow on purpose: it is the yardstick that ``hpdesc.benchmark``
(verification, matching, retrieval) is checked and timed against (tests/benchmark, eval_speed.py).

``descs``: ``{sequence: (N, 16, D) float array}``; ``tasks``: :class:`hpdesc.data.tasks.Tasks`.
"""

from __future__ import annotations

import numpy as np

from hpdesc.data.images import IMAGE_INDEX

LEVELS = ("e", "h", "t")
POOL_SIZES = (100, 500, 1000, 5000, 10000, 15000, 20000)
_trapz = getattr(np, "trapezoid", None) or getattr(np, "trapz")


def tpfp(scores, labels, numpos=None):
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    p = int(np.sum(labels))
    n = len(labels) - p
    if numpos is not None:
        assert numpos >= p
        extra = numpos - p
        p = numpos
        scores = np.hstack((scores, np.repeat(-np.inf, extra)))
        labels = np.hstack((labels, np.repeat(1, extra)))
    perm = np.argsort(-scores, kind="mergesort")
    stop = np.max(np.where(scores[perm] > -np.inf))  # -inf scores are never retrieved
    perm = perm[: stop + 1]
    lab = labels[perm]
    tp = np.hstack((0, np.cumsum(lab == 1)))
    fp = np.hstack((0, np.cumsum(lab == 0)))
    return tp, fp, p, n


def pr_ap(scores, labels, numpos=None):
    """Python-evaluator AP: trapezoid of precision over recall."""
    tp, fp, p, _ = tpfp(scores, labels, numpos)
    small = 1e-10
    recall = tp / float(max(p, small))
    precision = np.maximum(tp, small) / np.maximum(tp + fp, small)
    return float(_trapz(precision, recall))


def paper_ap(scores, labels, numpos=None):
    """VLFeat-style AP: mean precision at each positive; unretrieved positives add 0."""
    tp, fp, p, _ = tpfp(scores, labels, numpos)
    total = 0.0
    for k in range(1, len(tp)):
        if tp[k] > tp[k - 1]:
            total += tp[k] / float(tp[k] + fp[k])
    return total / max(p, 1e-10)


def roc_auc(scores, labels):
    tp, fp, p, n = tpfp(scores, labels)
    small = 1e-10
    return float(_trapz(tp / float(max(p, small)), fp / float(max(n, small))))


def _dist(a, b, distance):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if distance == "L1":
        return float(np.sum(np.abs(a - b)))
    return float(np.sqrt(np.sum((a - b) ** 2)))


def _img(level, t):
    return 0 if t == 0 else IMAGE_INDEX[f"{level}{t}"]


def verification(descs, tasks, protocol="python", distance="L2"):
    ap_fn = pr_ap if protocol == "python" else paper_ap
    names = tasks.names
    res = {}
    for lv in LEVELS:
        d = {}
        for kind, rows in tasks.verif.items():
            out = np.empty(len(rows))
            for k, (s1, t1, i1, s2, t2, i2) in enumerate(rows):
                out[k] = _dist(descs[names[s1]][i1, _img(lv, t1)], descs[names[s2]][i2, _img(lv, t2)], distance)
            d[kind] = out
        res[lv] = {}
        for neg in ("intra", "inter"):
            dd = np.hstack((d[f"neg_{neg}"], d["pos"]))
            lab = np.hstack((np.zeros(len(d[f"neg_{neg}"])), np.ones(len(d["pos"]))))
            cut = len(d[f"neg_{neg}"]) + int(len(d["pos"]) * 0.2)
            res[lv][neg] = {"auc": roc_auc(-dd, lab), "ap": ap_fn(-dd[:cut], lab[:cut])}
    value = float(np.mean([res[lv][n]["ap"] for lv in LEVELS for n in ("intra", "inter")]))
    return value, res


def matching(descs, test, protocol="python", distance="L2"):
    ap_fn = pr_ap if protocol == "python" else paper_ap
    per = {}
    for seq in test:
        x = np.asarray(descs[seq], np.float64)
        n = x.shape[0]
        per[seq] = {}
        for lv in LEVELS:
            aps = []
            for i in range(1, 6):
                tgt = x[:, _img(lv, i)]
                nn = np.empty(n, dtype=np.int64)
                nd = np.empty(n)
                for r in range(n):  # one query at a time
                    if distance == "L1":
                        dr = np.abs(tgt - x[r, 0]).sum(axis=1)
                    else:
                        dr = np.sqrt(((tgt - x[r, 0]) ** 2).sum(axis=1))
                    nn[r] = int(np.argmin(dr))
                    nd[r] = dr[nn[r]]
                aps.append(ap_fn(-nd, nn == np.arange(n), numpos=n))
            per[seq][lv] = aps
    by_level = {lv: float(np.mean([per[s][lv] for s in test])) for lv in LEVELS}
    groups = {}
    for lv in LEVELS:
        for kind in ("i", "v"):
            seqs = [s for s in test if s.split("_")[0] == kind]
            if seqs:
                groups[f"{lv}_{kind}"] = float(np.mean([np.mean(per[s][lv]) for s in seqs]))
    value = float(np.mean(list(groups.values()))) if protocol == "paper" and groups else float(np.mean(list(by_level.values())))
    return value, by_level


def retrieval(descs, tasks, protocol="python", distance="L2", n_queries=None):
    names = tasks.names
    q = tasks.queries if n_queries is None else tasks.queries[:n_queries]
    d = tasks.distractors
    dq = np.array([descs[names[s]][i, 0] for s, i in q], dtype=np.float64)
    dd = np.array([descs[names[s]][i, 0] for s, i in d], dtype=np.float64)
    d_seq = d[:, 0]
    aps = np.empty((len(q), 3, len(POOL_SIZES))) if protocol == "python" else np.empty((len(q), 3))
    for qi, (s, idx) in enumerate(q):
        if distance == "L1":
            row = np.abs(dd - dq[qi]).sum(axis=1)
        else:
            row = np.sqrt(((dd - dq[qi]) ** 2).sum(axis=1))
        row = row[d_seq != s]  # distractors of the query's own sequence are dropped
        for k, lv in enumerate(LEVELS):
            pos = np.array([_dist(dq[qi], descs[names[s]][idx, _img(lv, i)], distance) for i in range(1, 6)])
            lst = np.hstack((pos, row))
            gt = np.hstack((np.ones(5), np.zeros(len(row))))
            if protocol == "python":
                for j, pool in enumerate(POOL_SIZES):
                    aps[qi, k, j] = pr_ap(-lst[:pool], gt[:pool])
            else:
                aps[qi, k] = paper_ap(-lst, gt)
    return float(aps.mean()), aps
