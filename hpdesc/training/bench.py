"""Training's benchmark step: describe the test split with the run (and baselines), then evaluate.

Describing is :mod:`hpdesc.inference.describe`'s job; this module only decides what to describe and
writes ``benchmark.json``.
"""

from __future__ import annotations

import json
import time

from hpdesc.atomic import write_text_atomic
from hpdesc.errors import UsageError
from hpdesc.inference.describe import cached_ok, describe_run_split, descriptor_config, write_described
from hpdesc.inference.pipeline import Pipeline
from hpdesc.progress import Reporter
from hpdesc.training.run import RunDir


def check_baselines(cfg) -> None:
    """Every ``benchmark.baselines`` name is a registered descriptor or denoiser (UsageError otherwise).

    Checked before training, so a misspelt baseline fails in a second, not after the run.
    """
    from hpdesc import registry
    from hpdesc.errors import HpdescError

    for name in cfg.benchmark.baselines:
        try:
            _kind(name)
        except HpdescError:
            known = sorted({e.name for k in ("descriptor", "denoiser") for e in registry.entries(k)})
            raise UsageError(f"benchmark.baselines: {name!r} is neither a descriptor nor a denoiser",
                             hint=f"baselines are descriptors (raw, sift) or denoisers (nlmeans); "
                                  f"installed: {', '.join(known)}") from None


def _kind(name: str) -> str:
    """A baseline is a descriptor (``raw``, ``sift``: on the noisy patches) or a denoiser (``nlmeans``).

    A denoiser baseline is scored with the run's own descriptor on its output, and in the
    denoising table; a name registered as both is a descriptor.
    """
    from hpdesc import registry

    try:
        registry.get("descriptor", name)
        return "descriptor"
    except Exception:  # noqa: BLE001 - not a descriptor: a denoiser, or the registry's own error
        registry.get("denoiser", name)
        return "denoiser"


def benchmark_run(cfg, run: RunDir, ds, reporter: Reporter | None = None, timings: dict | None = None) -> dict:
    """Benchmark a finished run (and the configured baselines) on the test split; writes benchmark.json.

    ``results``: HPatches mAP of the run (``DENOISER+DESCRIPTOR``), of each descriptor baseline on
    the noisy patches and of the run's descriptor on each denoiser baseline's output
    (``nlmeans+hardnet``). ``denoising``: the denoising table (PSNR / SSIM per level) of the run's
    denoiser and of each denoiser baseline (:mod:`hpdesc.benchmark.denoising`).
    """
    import keras

    from hpdesc import registry
    from hpdesc.benchmark.denoising import DenoisingMeter
    from hpdesc.benchmark.evaluate import evaluate
    from hpdesc.atomic import write_json_atomic as write_json
    from hpdesc.inference.denoise import PsnrMeter, baseline_table_rows, denoising_table, table_result

    reporter = reporter or Reporter()
    timings = timings if timings is not None else {}
    b = cfg.benchmark
    split = cfg.data.split
    test = ds.split(split).get("test", [])
    denoiser = keras.saving.load_model(run.model("denoiser")) if run.model("denoiser").exists() else None
    out: dict = {"split": split, "protocol": b.protocol, "tasks": list(b.tasks), "results": {}, "psnr": {},
                 "denoising": {}}
    kinds = {base: _kind(base) for base in b.baselines}
    den_name = cfg.denoiser.name
    den_bases = [base for base in b.baselines if kinds[base] == "denoiser" and base != den_name]

    def table_of(model, name, meter=None):
        return denoising_table(model, ds, test, name, split, reporter, psnr_meter=meter).rows

    if not cfg.trains_descriptor:
        t0 = time.perf_counter()
        meter = PsnrMeter()
        out["denoising"][den_name] = table_of(denoiser, den_name, meter)
        out["psnr"] = meter.result()
        timings["describe"] = round(time.perf_counter() - t0, 2)
        for base in den_bases:  # the same for every run on this data: computed once, then cached
            model = registry.build("denoiser", base, input_shape=(32, 32, 1))
            out["denoising"][base] = baseline_table_rows(model, ds, test, base, split, reporter)
        out["timings"] = dict(timings)
        write_json(run.benchmark, out)
        return out
    descriptor = keras.saving.load_model(run.model("descriptor"))
    t0, c0 = time.perf_counter(), time.process_time()
    path, psnr = describe_run_split(run, cfg, denoiser, descriptor, ds, split, reporter=reporter)
    timings["describe"] = round(time.perf_counter() - t0, 2)
    timings["describe_cpu"] = round(time.process_time() - c0, 2)
    out["psnr"] = psnr
    out["denoising"][den_name] = table_of(denoiser, den_name)
    name = f"{den_name}+{cfg.descriptor.name}"
    t0 = time.perf_counter()
    res = evaluate(path, ds, tasks=b.tasks, split=split, protocol=b.protocol, cache=False)
    out["results"][name] = res.to_dict()
    out["run"] = name
    for base in b.baselines:
        if kinds[base] == "denoiser":
            if base == den_name:
                continue  # the run itself
            model = registry.build("denoiser", base, input_shape=(32, 32, 1))
            label = f"{base}+{cfg.descriptor.name}"
            bpath = run.path / "baselines" / f"{label}.h5"
            config = descriptor_config(ds, split, cfg.descriptor.name, base, denoised=True, run=run,
                                       from_run=(cfg.descriptor.name,),
                                       descriptor_component=cfg.descriptor.to_dict(),
                                       models_mtime=round(run.model("descriptor").stat().st_mtime, 3))
            meter = DenoisingMeter()
            if not cached_ok(bpath, config) or not bpath.with_suffix(".denoising.json").exists():
                write_described(Pipeline(model, descriptor), ds, test, bpath, config, reporter, psnr_meter=meter)
                rows = table_result(meter, base, ds, split).rows
                write_text_atomic(bpath.with_suffix(".denoising.json"), json.dumps(rows))
            out["denoising"][base] = json.loads(bpath.with_suffix(".denoising.json").read_text(encoding="utf-8"))
            out["results"][label] = evaluate(bpath, ds, tasks=b.tasks, split=split, protocol=b.protocol,
                                             cache=False).to_dict()
            continue
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
