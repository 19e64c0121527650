"""Speed of the image path (mutual NN, feature extraction per phase) and whole-image vs per-patch denoising.

Three parts, each printed as a small table:

1. ``mutual_nn`` on 5k x 5k 128-d descriptors (the protocol's matching rule).
2. Feature extraction of one 640x480 photo, 2048 keypoints, per phase (noise, detection, patch
   cutting, denoiser, descriptor) for sift, raw and a quick-start-sized dncnn + hardnet (random
   weights: speed does not depend on them), the denoiser per patch and on the whole image.
3. With ``--denoiser-run RUN`` (runs with a trained fully convolutional denoiser): mean matching
   accuracy (MMA at 1..10 px, the protocol's rule) on ``--pairs`` synthetic pairs (photo crops
   warped by random homographies) with hpdesc's tough noise on both images, using the run's
   denoiser then the sift patch descriptor: no denoiser, per patch, whole image; plus the
   denoiser's time per image in each mode.

    python benchmarks/features_speed.py                                # parts 1 and 2
    python benchmarks/features_speed.py --denoiser-run runs/<run> ...  # and part 3
"""

from __future__ import annotations

import argparse
import os
import time
from types import SimpleNamespace as NS

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def _best(fn, repeat=3):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def part_mutual_nn():
    from hpdesc.matching.match import mutual_nn

    rng = np.random.default_rng(0)
    a = rng.normal(size=(5000, 128)).astype(np.float32)
    b = np.concatenate([a[:3000] + 0.3 * rng.normal(size=(3000, 128)), rng.normal(size=(2000, 128))]).astype(np.float32)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    c = time.process_time()
    t = _best(lambda: mutual_nn(a, b))
    cpu = (time.process_time() - c) / 3
    tr = _best(lambda: mutual_nn(a, b, ratio=0.8))
    print(f"mutual_nn 5000 x 5000 x 128: {t:.3f} s wall, {cpu:.3f} s CPU (with ratio test 0.8: {tr:.3f} s wall)")


def _photo(h=480, w=640):
    from hpdesc.data.photos import load_photo

    img = load_photo("astronaut")
    return np.ascontiguousarray(cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA))


def _fake_run(den_name, den, desc_name, desc):
    from pathlib import Path

    return NS(run=NS(path=Path(f"bench-{den_name}")), config=NS(denoiser=NS(name=den_name), descriptor=NS(name=desc_name)),
              denoiser=den, descriptor=desc)


def part_extraction(n_kp: int):
    from hpdesc import registry
    from hpdesc.matching.extract import make_extractor

    img = _photo()
    rows = []
    for name in ("sift", "raw"):
        rows.append((name, make_extractor(descriptor=name, max_keypoints=n_kp)))
    den = registry.build("denoiser", "dncnn", input_shape=(32, 32, 1), final_init="orthogonal")
    desc = registry.build("descriptor", "hardnet", input_shape=(32, 32, 1))
    for whole in (False, True):
        ext = make_extractor(run=_fake_run("dncnn", den, "hardnet", desc), max_keypoints=n_kp, whole_image=whole)
        rows.append((f"dncnn+hardnet {'whole image' if whole else 'per patch'}", ext))
    print(f"\nfeature extraction, one {img.shape[1]}x{img.shape[0]} image, {n_kp} keypoints "
          "(best of 3 after one warm-up call; seconds)")
    print(f"{'method':32s} {'total':>7s} {'CPU':>7s} " + " ".join(f"{k:>9s}" for k in ("noise", "detect", "patches", "denoise", "describe")))
    for label, ext in rows:
        ext(img)  # warm-up: traces / compiles the networks
        best = None
        for _ in range(3):
            ext.timings = {k: 0.0 for k in ext.timings}
            t, c = time.perf_counter(), time.process_time()
            ext(img)
            total, cpu = time.perf_counter() - t, time.process_time() - c
            if best is None or total < best[0]:
                best = (total, cpu, dict(ext.timings))
        total, cpu, tm = best
        print(f"{label:32s} {total:7.2f} {cpu:7.2f} " + " ".join(f"{tm[k]:9.3f}" for k in ("noise", "detect", "patches", "denoise", "describe")))


def _pairs(n: int, seed: int = 0):
    from hpdesc.data.photos import load_photo, photo_names

    rng = np.random.default_rng(seed)
    out = []
    names = [p for p in photo_names() if min(load_photo(p).shape) >= 300][:n]
    for name in names:
        img = load_photo(name)
        h, w = min(img.shape[0], 360), min(img.shape[1], 480)
        a = np.ascontiguousarray(img[:h, :w])
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = src + rng.uniform(-0.12, 0.12, (4, 2)).astype(np.float32) * np.float32([w, h])
        H = cv2.getPerspectiveTransform(src, dst)
        b = cv2.warpPerspective(a, H, (w, h), flags=cv2.INTER_LINEAR)
        out.append((name, a, b, H))
    return out


def _mma(f1, f2, H):
    from hpdesc.matching.match import mutual_nn

    m = mutual_nn(f1.descriptors, f2.descriptors)
    if not len(m):
        return np.zeros(10), 0
    p = np.c_[f1.keypoints[m[:, 0]], np.ones(len(m))] @ H.T
    d = np.linalg.norm(p[:, :2] / p[:, 2:] - f2.keypoints[m[:, 1]], axis=1)
    return np.array([(d <= t).mean() for t in range(1, 11)]), len(m)


def part_whole_vs_patch(runs, n_pairs: int, n_kp: int, noise: str):
    from hpdesc import registry
    from hpdesc.matching.extract import make_extractor
    from hpdesc.training.load import load_run

    pairs = _pairs(n_pairs)
    sift = registry.build("descriptor", "sift", input_shape=(32, 32, 1))
    print(f"\nwhole image vs per patch: {len(pairs)} synthetic pairs ({', '.join(p[0] for p in pairs)}), noise {noise}, "
          f"{n_kp} keypoints, sift patch descriptor after the run's denoiser")
    print(f"{'denoiser':40s} {'mode':12s} {'MMA@1':>6s} {'MMA@3':>6s} {'MMA@5':>6s} {'MMA@10':>6s} {'matches':>8s} {'denoise s/img':>14s}")
    base = make_extractor(descriptor="sift", max_keypoints=n_kp, noise=noise)
    configs = [("none", "-", base)]
    for r in runs:
        lr = load_run(r)
        label = f"{lr.config.denoiser.name} ({os.path.basename(os.path.normpath(r))})"
        for whole in (False, True):
            ext = make_extractor(run=_fake_run(lr.config.denoiser.name, lr.denoiser, "sift", sift),
                                 max_keypoints=n_kp, noise=noise, whole_image=whole)
            configs.append((label, "whole image" if whole else "per patch", ext))
    for label, mode, ext in configs:
        ext(pairs[0][1])  # warm-up
        ext.timings = {k: 0.0 for k in ext.timings}
        accs, counts = [], []
        for _name, a, b, H in pairs:
            acc, n = _mma(ext(a), ext(b), H)
            accs.append(acc)
            counts.append(n)
        acc = np.mean(accs, axis=0)
        per_img = ext.timings["denoise"] / (2 * len(pairs))
        print(f"{label:40s} {mode:12s} {acc[0]:6.3f} {acc[2]:6.3f} {acc[4]:6.3f} {acc[9]:6.3f} {np.mean(counts):8.1f} {per_img:14.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keypoints", type=int, default=2048)
    ap.add_argument("--denoiser-run", nargs="*", default=[], help="runs with a trained dncnn / unet / ffdnet denoiser")
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--noise", default="t")
    ap.add_argument("--skip", nargs="*", default=[], choices=["nn", "extract"])
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, OpenCV {cv2.__version__}")
    if "nn" not in args.skip:
        part_mutual_nn()
    if "extract" not in args.skip:
        part_extraction(args.keypoints)
    if args.denoiser_run:
        part_whole_vs_patch(args.denoiser_run, args.pairs, args.keypoints, args.noise)


if __name__ == "__main__":
    main()
