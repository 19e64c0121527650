"""Classical and learned denoisers on the embedded test split: PSNR / SSIM per level, mAP on top, cost.

For each denoiser (identity, gaussian, median, nlmeans, the bm3d plugin if installed, and a
trained run's denoiser with ``--run``): the denoising table on the test split (PSNR per noise
level e / h / t and mean, :mod:`hpdesc.benchmark.denoising`), the HPatches mAP of the run's
descriptor on the denoiser's output (``--run``: e.g. the quick start's hardnet), and the cost of
denoising 1,000 patches (wall and CPU seconds, this process, all threads). BM3D takes most of a
second per patch, so by default it is scored only on the first ``--subset-rows`` patch rows of
each test sequence, where every other denoiser is scored too (a second table), and gets no mAP;
``--bm3d-full`` scores it on the whole split like the others (about 50 minutes on 2 cores for the
embedded test split). Not a test::

    python benchmarks/denoisers.py --run runs/quick-start --json denoisers.json
    python benchmarks/denoisers.py --run runs/quick-start --bm3d-full --json denoisers-full.json
    python benchmarks/denoisers.py --no-bm3d                  # classical ones only, no mAP
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _cost(model, patches: np.ndarray) -> dict:
    """Wall and CPU seconds per 1,000 patches of ``model``'s numpy / predict path on uint8 ``patches``."""
    from hpdesc.inference.pipeline import Pipeline

    pipe = Pipeline(model, None)
    pipe.denoise(patches[:2])  # warm up (graph tracing, imports)
    t0, c0 = time.perf_counter(), time.process_time()
    pipe.denoise(patches)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    k = 1000.0 / len(patches)
    return {"patches_timed": len(patches), "wall_s_per_1000": round(wall * k, 2), "cpu_s_per_1000": round(cpu * k, 2)}


def _subset_table(model, name, ds, seqs, rows: int) -> dict:
    from hpdesc.benchmark.denoising import DenoisingMeter
    from hpdesc.inference.pipeline import Pipeline

    pipe, meter = Pipeline(model, None), DenoisingMeter()
    for s in seqs:
        noisy, clean = ds.patches(s, kind="noisy")[:rows], ds.patches(s, kind="clean")[:rows]
        den = noisy.copy()
        den[:, 1:] = pipe.denoise(noisy[:, 1:])  # the table leaves out the ref image: do not denoise it
        meter.add(clean, noisy, den, sequence=s)
    return meter.result()


def _sigma_by_level(ds, seqs) -> dict:
    """Per level: the mean per-patch noise estimate nlmeans uses (noisy and clean patches), the true std."""
    from hpdesc.data.images import IMAGES
    from hpdesc.data.noise import NoiseModel
    from hpdesc.models.denoisers.classical import estimate_sigma

    noise = NoiseModel.from_dict(ds.config["noise"]) if isinstance(ds.config.get("noise"), dict) else NoiseModel()
    out = {}
    for lv in "eht":
        cols = [j for j, n in enumerate(IMAGES) if n[0] == lv]
        noisy = np.concatenate([ds.patches(s, kind="noisy")[:, cols].reshape(-1, 32, 32) for s in seqs])
        clean = np.concatenate([ds.patches(s, kind="clean")[:, cols].reshape(-1, 32, 32) for s in seqs])
        grey = float(clean.mean())
        out[lv] = {"estimate_noisy": round(float(np.mean([estimate_sigma(p) for p in noisy])), 2),
                   "estimate_clean": round(float(np.mean([estimate_sigma(p) for p in clean])), 2),
                   "true_std_at_mean_grey": round(noise.std_at(lv, grey), 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="patch dataset (default: the embedded one)")
    ap.add_argument("--split", default="default")
    ap.add_argument("--run", default=None, help="a trained run: its denoiser joins the table, its descriptor gives mAP")
    ap.add_argument("--no-bm3d", action="store_true", help="leave out the bm3d plugin")
    ap.add_argument("--bm3d-full", action="store_true", help="score bm3d on the whole split too (slow)")
    ap.add_argument("--subset-rows", type=int, default=1, help="patch rows per test sequence for the bm3d table")
    ap.add_argument("--cost-patches", type=int, default=512, help="patches timed per denoiser (bm3d: 16)")
    ap.add_argument("--json", default=None, help="write everything here")
    a = ap.parse_args()

    import hpdesc
    from hpdesc import registry
    from hpdesc.api import default_data_path
    from hpdesc.benchmark.denoising import DenoisingMeter
    from hpdesc.benchmark.evaluate import evaluate
    from hpdesc.data.store import open_dataset
    from hpdesc.inference.denoise import denoising_table
    from hpdesc.inference.describe import descriptor_config, write_described
    from hpdesc.inference.pipeline import Pipeline

    names = ["identity", "gaussian", "median", "nlmeans"]
    if not a.no_bm3d and "bm3d" in registry.names("denoiser"):
        names.append("bm3d")
    models = {n: registry.build("denoiser", n, input_shape=(32, 32, 1)) for n in names}
    lr = hpdesc.load_run(a.run) if a.run else None
    if lr is not None and lr.denoiser is not None:
        models[f"run:{lr.config.denoiser.name}"] = lr.denoiser
    out: dict = {"split": a.split, "full": {}, "subset": {}, "cost": {}, "map": {}}
    tmp = Path(a.json or "denoisers.json").with_suffix(".desc")
    tmp.mkdir(parents=True, exist_ok=True)
    with open_dataset(a.data or default_data_path()) as ds:
        test = ds.split(a.split)["test"]
        out["dataset"], out["test_sequences"] = str(ds.path), len(test)
        sample = np.concatenate([ds.patches(s, kind="noisy")[:, 1:].reshape(-1, 32, 32) for s in test])
        sample = sample[np.random.default_rng(0).permutation(len(sample))]
        out["sigma"] = _sigma_by_level(ds, test)
        print("estimated noise sigma per level", out["sigma"], flush=True)
        for name, model in models.items():  # costs first, in a few minutes: the machine is quiet then
            out["cost"][name] = _cost(model, sample[: 16 if name == "bm3d" else a.cost_patches])
            print(name, "cost", out["cost"][name], flush=True)
        for name, model in models.items():
            slow = name == "bm3d" and not a.bm3d_full
            out["subset"][name] = _subset_table(model, name, ds, test, a.subset_rows)
            if slow:
                continue
            if lr is not None and lr.descriptor is not None:
                meter = DenoisingMeter()
                path = tmp / f"{name.replace(':', '_')}.h5"
                config = descriptor_config(ds, a.split, lr.config.descriptor.name, name, denoised=True)
                den = None if name == "identity" else model
                write_described(Pipeline(den, lr.descriptor), ds, test, path, config, meter=meter)
                out["map"][name] = evaluate(path, ds, split=a.split, cache=False).to_dict()["headline"]
                out["full"][name] = meter.result() if den is not None else denoising_table(None, ds, test, name).rows
            else:
                out["full"][name] = denoising_table(model, ds, test, name, a.split).rows
            print(name, {k: round(v["psnr_denoised"], 2) for k, v in out["full"][name].items()},
                  out["map"].get(name, ""), flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n")
    for table in ("full", "subset"):
        print(f"\n{table}: PSNR dB (SSIM) per level")
        print("| denoiser | e | h | t | mean |")
        first = next(iter(out[table].values()))
        print("| noisy input | " + " | ".join(f"{first[lv]['psnr_noisy']:.2f} ({first[lv]['ssim_noisy']:.3f})"
                                              for lv in ("e", "h", "t", "mean")) + " |")
        for name, rows in out[table].items():
            print(f"| {name} | " + " | ".join(f"{rows[lv]['psnr_denoised']:.2f} ({rows[lv]['ssim_denoised']:.3f})"
                                             for lv in ("e", "h", "t", "mean")) + " |")
    print("\ncost per 1,000 patches (s): wall / CPU")
    for name, c in out["cost"].items():
        print(f"| {name} | {c['wall_s_per_1000']} | {c['cpu_s_per_1000']} |")
    if out["map"]:
        print("\nmAP % of the run's descriptor on each output: verification / matching / retrieval")
        for name, h in out["map"].items():
            print(f"| {name} | " + " | ".join(f"{100 * h[t]:.2f}" for t in ("verification", "matching", "retrieval")) + " |")


if __name__ == "__main__":
    main()
