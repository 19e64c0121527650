"""Sanity check of ``--distribute mirrored`` on one device: same losses, small overhead.

Runs ``hpdesc train`` twice in fresh processes on the same synthetic dataset, settings and seed,
once with ``--distribute none`` and once with ``--distribute mirrored`` (TensorFlow: a
``MirroredStrategy`` over the local GPUs, or over the one CPU device when there is none; JAX:
``keras.distribution.DataParallel`` over the local devices). On a machine with one device both
runs see the same batches, so their loss curves should agree (bfloat16 aside) and the epoch times
should be within a few percent: the strategy's cost with nothing to all-reduce. Prints both
curves, the largest relative loss difference and the ratio mirrored / none of the steady-state
epoch time (median of epochs 2.., epoch 1 holds tracing / compilation). Not a test::

    python benchmarks/distribute_overhead.py                                # CPU, TF backend
    KERAS_BACKEND=jax python benchmarks/distribute_overhead.py --precision mixed \\
        --dncnn-depth 17 --samples 65536 --triplets 262144 --batch-size 1024   # one GPU
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import synthetic_dataset  # noqa: E402  (benchmarks/ is not a package)


def train(mode: str, data: Path, out: Path, a: argparse.Namespace) -> dict:
    """One ``hpdesc train`` in a fresh process; returns its two history tables and wall time."""
    sets = [
        f"denoiser.depth={a.dncnn_depth}", f"training.denoiser_samples_per_epoch={a.samples}",
        f"training.descriptor_triplets_per_epoch={a.triplets}", f"training.denoise_pool={a.pool}",
        "benchmark.enabled=false", "training.watchdog=off",
    ] + a.set
    cmd = [sys.executable, "-m", "hpdesc", "train", "--data", str(data), "--denoiser", "dncnn",
           "--descriptor", "hardnet", "--epochs", str(a.epochs), "--batch-size", str(a.batch_size),
           "--seed", "0", "--precision", a.precision, "--distribute", mode, "--out", str(out)]
    for s in sets:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.timeout)
    if p.returncode != 0:
        sys.exit(f"{mode}: hpdesc train failed (rc {p.returncode}):\n{p.stderr[-3000:]}")
    hist = {}
    for stage in ("denoiser", "descriptor"):
        with open(out / f"history_{stage}.csv") as f:
            hist[stage] = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    return {"wall_s": round(time.perf_counter() - t0, 1), "history": hist}


def steady(rows: list[dict]) -> float:
    """Median epoch seconds after the first epoch (all epochs if there is only one)."""
    secs = [r["seconds"] for r in rows]
    return statistics.median(secs[1:] or secs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--samples", type=int, default=2048, help="denoiser samples per epoch")
    ap.add_argument("--triplets", type=int, default=8192, help="descriptor triplets per epoch")
    ap.add_argument("--pool", type=int, default=4096, help="training.denoise_pool")
    ap.add_argument("--dncnn-depth", type=int, default=5)
    ap.add_argument("--precision", default="float32", choices=["float32", "mixed"])
    ap.add_argument("--set", action="append", default=[], help="extra KEY=VALUE for both runs")
    ap.add_argument("--timeout", type=int, default=3600)
    a = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="hpdesc-distribute-") as tmp:
        data = synthetic_dataset(Path(tmp) / "data.h5", n_seq=8, n_patches=512)
        runs = {m: train(m, data, Path(tmp) / m, a) for m in ("none", "mirrored")}

    report = {"backend": os.environ.get("KERAS_BACKEND", "tensorflow"), "settings": vars(a)}
    for stage in ("denoiser", "descriptor"):
        one, mir = runs["none"]["history"][stage], runs["mirrored"]["history"][stage]
        rel = max(abs(x["loss"] - y["loss"]) / max(abs(x["loss"]), 1e-12) for x, y in zip(one, mir))
        report[stage] = {
            "loss_none": [r["loss"] for r in one], "loss_mirrored": [r["loss"] for r in mir],
            "max_rel_loss_diff": rel,
            "epoch_s_none": steady(one), "epoch_s_mirrored": steady(mir),
            "ratio_mirrored_over_none": round(steady(mir) / steady(one), 3),
        }
        print(f"{stage:10s} loss none {report[stage]['loss_none']}\n{'':10s} loss mirr {report[stage]['loss_mirrored']}"
              f"\n{'':10s} max rel diff {rel:.2e}; steady epoch {steady(one):.2f}s vs {steady(mir):.2f}s "
              f"-> mirrored/none = {report[stage]['ratio_mirrored_over_none']}")
    report["wall_s"] = {m: r["wall_s"] for m, r in runs.items()}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
