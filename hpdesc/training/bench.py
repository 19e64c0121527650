"""Training's benchmark step: describe the test split with the run (and baselines), then evaluate.

Describing is :mod:`hpdesc.inference.describe`'s job; this module only decides what to describe and
writes ``benchmark.json``.
"""

from __future__ import annotations

import time

from hpdesc.inference.denoise import denoising_psnr
from hpdesc.inference.describe import cached_ok, describe_run_split, descriptor_config, write_described
from hpdesc.inference.pipeline import Pipeline
from hpdesc.progress import Reporter
from hpdesc.training.run import RunDir


def benchmark_run(cfg, run: RunDir, ds, reporter: Reporter | None = None, timings: dict | None = None) -> dict:
    """Benchmark a finished run (and the configured baselines) on the test split; writes benchmark.json."""
    import keras

    from hpdesc import registry
    from hpdesc.benchmark.evaluate import evaluate
    from hpdesc.atomic import write_json_atomic as write_json

    reporter = reporter or Reporter()
    timings = timings if timings is not None else {}
    b = cfg.benchmark
    split = cfg.data.split
    test = ds.split(split).get("test", [])
    denoiser = keras.saving.load_model(run.model("denoiser")) if run.model("denoiser").exists() else None
    out: dict = {"split": split, "protocol": b.protocol, "tasks": list(b.tasks), "results": {}, "psnr": {}}
    if not cfg.trains_descriptor:
        t0 = time.perf_counter()
        out["psnr"] = denoising_psnr(denoiser, ds, test, reporter)
        timings["describe"] = round(time.perf_counter() - t0, 2)
        out["timings"] = dict(timings)
        write_json(run.benchmark, out)
        return out
    descriptor = keras.saving.load_model(run.model("descriptor"))
    t0, c0 = time.perf_counter(), time.process_time()
    path, psnr = describe_run_split(run, cfg, denoiser, descriptor, ds, split, reporter=reporter)
    timings["describe"] = round(time.perf_counter() - t0, 2)
    timings["describe_cpu"] = round(time.process_time() - c0, 2)
    out["psnr"] = psnr
    name = f"{cfg.denoiser.name}+{cfg.descriptor.name}"
    t0 = time.perf_counter()
    res = evaluate(path, ds, tasks=b.tasks, split=split, protocol=b.protocol, cache=False)
    out["results"][name] = res.to_dict()
    out["run"] = name
    for base in b.baselines:
        model = registry.build("descriptor", base, input_shape=(32, 32, 1))
        bpath = run.path / "baselines" / f"{base}.h5"
        config = descriptor_config(ds, split, base)
        if not cached_ok(bpath, config):
            write_described(Pipeline(None, model), ds, test, bpath, config, reporter)
        out["results"][base] = evaluate(bpath, ds, tasks=b.tasks, split=split, protocol=b.protocol,
                                        cache=False).to_dict()
    timings["evaluate"] = round(time.perf_counter() - t0, 2)
    out["timings"] = dict(timings)
    write_json(run.benchmark, out)
    return out
