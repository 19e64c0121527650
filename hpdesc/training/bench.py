"""Training's benchmark step: describe the test split with the run (and baselines), then evaluate.

Describing is :mod:`hpdesc.inference.describe`'s job; this module only decides what to describe and
writes ``benchmark.json``.
"""

from __future__ import annotations

import json
import time

from hpdesc.atomic import write_text_atomic
from hpdesc.benchmark.denoising import DenoisingResult
from hpdesc.benchmark.runbench import RunBenchmark
from hpdesc.errors import UsageError
from hpdesc.inference.describe import cached_ok, describe_run_split, descriptor_config, models_mtime, write_described
from hpdesc.inference.pipeline import Pipeline
from hpdesc.progress import Reporter
from hpdesc.training.run import RunDir


def check_baselines(cfg) -> None:
    """Every ``benchmark.baselines`` name is a registered descriptor or denoiser (UsageError otherwise).

    Checked before training, so a misspelt baseline fails in a second, not after the run; a name
    two distributions declare is the registry's own error (it lists both qualified spellings).
    """
    from hpdesc import registry
    from hpdesc.errors import UnknownComponentError

    for name in cfg.benchmark.baselines:
        try:
            _kind(name)
        except UnknownComponentError:
            known = sorted({e.name for k in ("descriptor", "denoiser") for e in registry.entries(k)})
            raise UsageError(f"benchmark.baselines: {name!r} is neither a descriptor nor a denoiser",
                             hint=f"baselines are descriptors (raw, sift) or denoisers (nlmeans); "
                                  f"installed: {', '.join(known)}") from None


def _kind(name: str) -> str:
    """A baseline is a descriptor (``raw``, ``sift``: on the noisy patches) or a denoiser (``nlmeans``).

    A denoiser baseline is scored with the run's own descriptor on its output, and in the
    denoising table; a name registered as both is a descriptor. Only "no such descriptor" falls
    through to the denoisers: any other registry error (an ambiguous name) is raised.
    """
    from hpdesc import registry
    from hpdesc.errors import UnknownComponentError

    try:
        registry.get("descriptor", name)
        return "descriptor"
    except UnknownComponentError:
        registry.get("denoiser", name)
        return "denoiser"


def benchmark_run(cfg, run: RunDir, ds, reporter: Reporter | None = None, timings: dict | None = None) -> RunBenchmark:
    """Benchmark a finished run (and the configured baselines) on the test split; writes benchmark.json.

    Returns a :class:`~hpdesc.benchmark.runbench.RunBenchmark`: the HPatches
    :class:`~hpdesc.benchmark.evaluate.BenchmarkResult` of the run (``DENOISER+DESCRIPTOR``), of
    each descriptor baseline on the noisy patches and of the run's descriptor on each denoiser
    baseline's output (``nlmeans+hardnet``); the denoising table (PSNR / SSIM per level) of the
    run's denoiser and of each denoiser baseline (:mod:`hpdesc.benchmark.denoising`).
    """
    from hpdesc import registry
    from hpdesc.atomic import write_json_atomic as write_json
    from hpdesc.benchmark.denoising import DenoisingMeter
    from hpdesc.benchmark.evaluate import evaluate
    from hpdesc.data.denoised import open_denoised
    from hpdesc.inference.baseline import baseline_output, baseline_table_rows
    from hpdesc.inference.denoise import denoising_table, table_result
    from hpdesc.training.load import load_keras

    reporter = reporter or Reporter()
    timings = timings if timings is not None else {}
    b = cfg.benchmark
    split = cfg.data.split
    test = ds.split(split).get("test", [])
    denoiser = load_keras(run.model("denoiser")) if run.model("denoiser").exists() else None
    out = RunBenchmark(split, b.protocol, list(b.tasks))
    kinds = {base: _kind(base) for base in b.baselines}
    den_name = cfg.denoiser.name
    den_bases = [base for base in b.baselines if kinds[base] == "denoiser" and base != den_name]

    def evaluated(path, label):
        res = evaluate(path, ds, tasks=b.tasks, split=split, protocol=b.protocol, cache=False)
        res.descriptor = label
        out.results.append(res)

    def table(name, rows):
        out.denoising.append(DenoisingResult(name, str(ds.path), split, rows))

    t0, c0 = time.perf_counter(), time.process_time()
    if cfg.trains_descriptor:
        descriptor = load_keras(run.model("descriptor"))
        path = describe_run_split(run, cfg, denoiser, descriptor, ds, split, reporter=reporter)
        timings["describe_cpu"] = round(time.process_time() - c0, 2)
    table(den_name, denoising_table(denoiser, ds, test, den_name, split, reporter).rows)
    timings["describe"] = round(time.perf_counter() - t0, 2)
    if not cfg.trains_descriptor:
        for base in den_bases:  # the same for every run on this data: computed once, then cached
            model = registry.build("denoiser", base, input_shape=(32, 32, 1))
            table(base, baseline_table_rows(model, ds, test, base, split, reporter))
        out.timings = dict(timings)
        write_json(run.benchmark, out.to_dict())
        return out
    out.run = f"{den_name}+{cfg.descriptor.name}"
    t0 = time.perf_counter()
    evaluated(path, out.run)
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
                                       models_mtime=models_mtime(run, ("descriptor",)))
            tpath = bpath.with_suffix(".denoising.json")
            if not cached_ok(bpath, config) or not tpath.exists():
                # a weightless baseline's output is denoised once per data and settings (cached)
                dpath, rows = baseline_output(model, ds, test, base, split, reporter)
                if dpath is not None:
                    with open_denoised(dpath) as denoised:
                        write_described(Pipeline(None, descriptor), denoised, test, bpath, config, reporter,
                                        kind="denoised")
                else:
                    meter = DenoisingMeter()
                    write_described(Pipeline(model, descriptor), ds, test, bpath, config, reporter, meter=meter)
                    rows = table_result(meter, base, ds, split).rows
                write_text_atomic(tpath, json.dumps(rows))
            table(base, json.loads(tpath.read_text(encoding="utf-8")))
            evaluated(bpath, label)
            continue
        model = registry.build("descriptor", base, input_shape=(32, 32, 1))
        bpath = run.path / "baselines" / f"{base}.h5"
        config = descriptor_config(ds, split, base)
        if not cached_ok(bpath, config):
            write_described(Pipeline(None, model), ds, test, bpath, config, reporter)
        evaluated(bpath, base)
    timings["evaluate"] = round(time.perf_counter() - t0, 2)
    out.timings = dict(timings)
    write_json(run.benchmark, out.to_dict())
    return out
