"""How long the README's quick start takes: wall clock, CPU time, and CPU / 2 per phase.

Runs ``hpdesc train --denoiser dncnn --descriptor hardnet`` with its defaults on the embedded
dataset (generated first when the cache is empty), in this process, and prints one JSON line: wall
and CPU seconds (user + sys, all threads), CPU / 2 (the wall time on 2 idle cores, the figure the
README's "under 5 minutes" refers to; see docs/training.md "Measured"), the run's per-phase
timings and its headline scores. The quality claims themselves are checked by
``tests/training/test_quality.py`` (``--runslow``); this script only measures. Not a test::

    python benchmarks/quick_start.py                       # the quick start, timed
    python benchmarks/quick_start.py --log quick.jsonl     # also append the JSON line to a file
    python benchmarks/quick_start.py --set training.denoise_pool=0 --out runs/qs
"""

from __future__ import annotations

import argparse
import json
import resource
import time


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--denoiser", default="dncnn")
    ap.add_argument("--descriptor", default="hardnet")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra settings")
    ap.add_argument("--out", default=None, help="run directory (default: a new one under runs/)")
    ap.add_argument("--log", default=None, help="append the JSON line to this file")
    a = ap.parse_args()

    t0, c0 = time.perf_counter(), _cpu()
    import hpdesc  # the import (TensorFlow, Keras) is part of what a user waits for

    res = hpdesc.train(denoiser=a.denoiser, descriptor=a.descriptor, sets=a.set, out=a.out)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    row = {"run": str(res.run_dir), "status": res.status, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           "ideal_2core_s": round(cpu / 2, 1), "timings": res.timings, "psnr": res.benchmark.psnr,
           "headline": {r.descriptor: r.headline for r in res.benchmark.results}}
    print(json.dumps(row))
    print(f"quick start: {wall:.0f} s wall, {cpu:.0f} s CPU -> {cpu / 2 / 60:.1f} min on 2 idle cores "
          "(README: under 5 min)")
    if a.log:
        with open(a.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
