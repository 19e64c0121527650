"""Describe a split's test sequences with a run (or a baseline) and benchmark the descriptors."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

from hpdesc.training.infer import Pipeline, PsnrMeter, describe_sequences, is_identity
from hpdesc.progress import Reporter
from hpdesc.training.run import RunDir


def write_described(pipe: Pipeline, ds, sequences, out, config: dict, reporter: Reporter | None = None,
                    kind: str = "noisy", psnr_meter: PsnrMeter | None = None) -> Path:
    """Describe ``sequences`` of ``ds`` into the descriptor file ``out`` (atomic, streamed)."""
    from hpdesc.data.descfile import write_descriptors

    reporter = reporter or Reporter()
    sequences = list(sequences)
    counts = [ds.count(s) for s in sequences]
    reporter.start(f"describing {len(sequences)} sequences", len(sequences))

    def tick(done, total):
        reporter.advance(1)

    items = describe_sequences(pipe, ds, sequences, kind=kind, psnr_meter=psnr_meter, progress=tick)
    write_descriptors(out, sequences, items, config, counts=counts, dim=pipe.dim)
    reporter.done()
    return Path(out)


def descriptor_config(ds, split: str | None, descriptor: str, denoiser: str | None = None, *,
                      kind: str = "noisy", denoised: bool = False, run: RunDir | None = None, from_run=(),
                      **extra) -> dict:
    """The ``config`` attribute of a descriptor file hpdesc makes: what made it, from which patches.

    ``descriptor`` / ``denoiser``: component names (``denoiser`` None: none in the pipeline);
    ``denoised``: whether that denoiser changes the patches (False for the identity); ``from_run``:
    the names taken from ``run``'s models. ``input`` records the patches the descriptor saw:
    ``clean``, ``noisy``, or ``denoised``. Reports label the file from these
    (:func:`hpdesc.data.descfile.descriptor_label`).
    """
    from hpdesc.data.descfile import components

    if kind == "clean":  # the denoiser runs on noisy patches only (describe_sequences)
        denoiser, denoised = None, False
    mine = [n for n in (denoiser, descriptor) if n and n in from_run]
    return {
        "dataset": str(Path(ds.path).resolve()), "dataset_uid": ds.uid, "split": split,
        "sequences": "test" if split else "all", "input": "denoised" if denoised else kind,
        "descriptor": components(denoiser, descriptor), "denoiser_name": denoiser, "descriptor_name": descriptor,
        "run": run.path.name if run is not None else None,
        "run_dir": str(run.path.resolve()) if run is not None else None, "from_run": mine, **extra,
    }


def run_descriptor_config(run: RunDir, cfg, ds, split: str, denoised: bool) -> dict:
    """The ``config`` attribute of a run's descriptor file (also its cache key)."""
    return descriptor_config(
        ds, split, cfg.descriptor.name, cfg.denoiser.name, denoised=denoised, run=run,
        from_run=(cfg.denoiser.name, cfg.descriptor.name),
        denoiser_component=cfg.denoiser.to_dict(), descriptor_component=cfg.descriptor.to_dict(),
        models_mtime=[round(run.model(s).stat().st_mtime, 3) for s in ("denoiser", "descriptor")
                      if run.model(s).exists()])


def cached_ok(path: Path, config: dict) -> bool:
    """True when ``path`` is a descriptor file made with exactly ``config``."""
    if not path.exists():
        return False
    try:
        from hpdesc.data.descfile import open_descriptors

        with open_descriptors(path) as d:
            return d.config == json.loads(json.dumps(config, sort_keys=True, default=str))
    except Exception:  # noqa: BLE001 - any unreadable cache is simply rebuilt
        return False


def run_descriptors_path(run: RunDir, split: str, trained_split: str) -> Path:
    """Where a run's descriptors of ``split`` are kept: in the run directory, if it can be written.

    A run directory that cannot be written (another user's, a read-only mount) is an input only:
    the copy then goes to the benchmark cache (``runs/<run name>-<hash of its path>/``).
    """
    name = run.descriptors.name if split == trained_split else f"descriptors_{split}_test.h5"
    if os.access(run.path, os.W_OK):
        return run.path / name
    from hpdesc.benchmark.cache import cache_dir

    key = hashlib.sha256(str(run.path.resolve()).encode()).hexdigest()[:16]
    return cache_dir(True) / "runs" / f"{run.path.name}-{key}" / name


def describe_run_split(run: RunDir, cfg, denoiser, descriptor, ds, split: str, out: Path | None = None,
                       reporter: Reporter | None = None) -> tuple[Path, dict]:
    """Describe the test sequences of ``split`` with a run's models; returns (path, psnr dict)."""
    test = ds.split(split).get("test", [])
    out = Path(out) if out is not None else run_descriptors_path(run, split, cfg.data.split)
    config = run_descriptor_config(run, cfg, ds, split, denoised=not is_identity(denoiser))
    psnr_path = out.with_suffix(".psnr.json")
    if cached_ok(out, config):
        psnr = json.loads(psnr_path.read_text()) if psnr_path.exists() else {}
        return out, psnr
    pipe = Pipeline(denoiser, descriptor)
    meter = PsnrMeter()
    write_described(pipe, ds, test, out, config, reporter, psnr_meter=meter)
    psnr = meter.result()
    from hpdesc.atomic import write_text_atomic

    write_text_atomic(psnr_path, json.dumps(psnr))
    return out, psnr


def test_psnr(denoiser, ds, sequences, reporter: Reporter | None = None) -> dict:
    """PSNR (dB) of noisy and denoised vs clean over ``sequences``."""
    pipe = Pipeline(denoiser, None)
    meter = PsnrMeter()
    reporter = reporter or Reporter()
    reporter.start("denoising the test sequences", len(sequences))
    for s in sequences:
        noisy = ds.patches(s, kind="noisy")
        meter.add(ds.patches(s, kind="clean"), noisy, pipe.denoise(noisy))
        reporter.advance(1)
    reporter.done()
    return meter.result()


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
        out["psnr"] = test_psnr(denoiser, ds, test, reporter)
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
