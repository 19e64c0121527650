"""HPatches matching: nearest-neighbour matching of a sequence's reference patches in each image, AP per level.

Follows the reference evaluator's ``eval_matching``: for every test sequence and image ``e1..t5``,
each ``ref`` descriptor's nearest neighbour among that image's descriptors is a correct match when
it is the same patch; AP over the scores ``-distance`` (docs/benchmark.md).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from hpdesc.benchmark.distances import nearest_neighbours
from hpdesc.benchmark.metrics import average_precision
from hpdesc.data.images import LEVELS, image_index

MATCH_BLOCK = 1024  # reference rows per nearest-neighbour block


def evaluate_matching(desc, test: Sequence[str], protocol: str, distance: str, block: int = MATCH_BLOCK, tick=None) -> dict:
    """Matching mAP of the sequences ``test`` of the descriptor set ``desc``; one ``tick`` per sequence."""
    tick = tick or (lambda: None)
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

