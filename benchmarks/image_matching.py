"""Time the image-matching path: mutual NN on 5k x 5k 128-d, and one benchmark over precomputed features.

1. ``mutual_nn`` on two random 5000 x 128 float32 descriptor sets (best and median of a few runs).
2. The embedded sequences written as folders (``write_sequences``, 24 sequences of 320 px),
   OpenCV SIFT features precomputed into ``<image>.sift`` files (up to ``--keypoints`` per image,
   not timed as part of the evaluation), then ``evaluate(SEQ_DIR, "sift")`` timed per phase
   (reading feature files, matching with the MMA projection, homography), plus the same
   extrapolated to the full release (116 sequences, 580 pairs) at the same keypoint count.

    python benchmarks/image_matching.py                      # defaults: 5k NN, 24 sequences, 2048 kpts
    python benchmarks/image_matching.py --sequences 8 --keypoints 5000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from hpdesc.data.sequences import find_sequences, image_file, read_image
from hpdesc.data.synth import write_sequences
from hpdesc.matching import evaluate as E
from hpdesc.matching.features import Features, feature_path, save_features
from hpdesc.matching.match import mutual_nn


def time_mutual_nn(n: int, dim: int, repeats: int) -> list[float]:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, dim)).astype(np.float32)
    b = (a[rng.permutation(n)] + rng.normal(0, 0.3, (n, dim))).astype(np.float32)
    mutual_nn(a[:100], b[:100])  # warm-up (BLAS threads)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        m = mutual_nn(a, b)
        out.append(time.perf_counter() - t0)
    print(f"mutual_nn {n} x {n} x {dim}: best {min(out):.3f} s, median {np.median(out):.3f} s "
          f"({repeats} runs, {len(m)} matches)")
    return out


def write_sift(root: Path, keypoints: int) -> float:
    sift = cv2.SIFT_create(nfeatures=keypoints)
    counts = []
    for f in find_sequences(root):
        for k in range(1, 7):
            img = image_file(f, k)
            kps, desc = sift.detectAndCompute((read_image(img) * 255).round().astype(np.uint8), None)
            desc = desc if desc is not None else np.zeros((0, 128), np.float32)
            save_features(feature_path(img, "sift"),
                          Features(np.array([p.pt for p in kps]).reshape(-1, 2), np.array([p.response for p in kps]), desc))
            counts.append(len(kps))
    return float(np.mean(counts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nn", type=int, default=5000, help="descriptors per side for the mutual-NN timing")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sequences", type=int, default=24)
    ap.add_argument("--keypoints", type=int, default=2048, help="SIFT keypoints per image (at most)")
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}, load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    time_mutual_nn(args.nn, 128, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        root = write_sequences(Path(tmp) / "seqs", args.sequences)
        t1 = time.perf_counter()
        kpts = write_sift(root, args.keypoints)
        t2 = time.perf_counter()
        print(f"write_sequences ({args.sequences} sequences): {t1 - t0:.2f} s; SIFT features: {t2 - t1:.2f} s "
              f"({kpts:.0f} keypoints per image)")
        t3 = time.perf_counter()
        r = E.evaluate(root, "sift")
        total = time.perf_counter() - t3
        phases = ", ".join(f"{k} {v:.2f} s" for k, v in r.seconds.items())
        pairs = r.n_pairs()
        print(f"evaluate, precomputed sift, {pairs} pairs: {total:.2f} s ({phases}); "
              f"{1000 * total / pairs:.1f} ms per pair; MMA@3 overall {100 * r.mma()[2]:.1f}%")
        print(f"full release (580 pairs) at this keypoint count, extrapolated: {580 * total / pairs:.1f} s")


if __name__ == "__main__":
    main()
