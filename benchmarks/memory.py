"""Peak memory of ``describe`` and ``benchmark`` on a large patch file (streamed from HDF5).

Writes a synthetic dataset of ``--images`` patch images (rows of 16 images, ``--seq-rows`` rows per
sequence, half the sequences in the test split), then runs, each in a fresh process,
``hpdesc.describe`` of the test split and ``hpdesc.benchmark`` of the resulting descriptor file,
and prints each process's peak RSS (``ru_maxrss``) next to the file sizes. Not a test::

    python benchmarks/memory.py --images 1000000 --workdir /tmp/hpdesc-mem
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
import hpdesc

def hwm_mib():  # VmHWM: this process's own peak (ru_maxrss can carry the parent's across fork/exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)

what, data, out, dim, filters = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
memory = int(float(sys.argv[6]) * 2**20) if sys.argv[6] != "default" else None
t0 = time.perf_counter()
if what == "describe":
    hpdesc.describe(data=data, out=out, descriptor="hardnet", split="default",
                    params={"descriptor": {"dim": dim, "filters": filters}})
    extra = {}
else:
    from hpdesc.benchmark.evaluate import evaluate
    res = evaluate(out, data, split="default", cache=False, memory=memory)
    extra = {"headline": res.headline}
print("RESULT " + json.dumps({"seconds": round(time.perf_counter() - t0, 1),
                              "peak_rss_mib": hwm_mib(),
                              **extra}))
"""


def make_dataset(path: Path, images: int, seq_rows: int, seed: int = 0) -> Path:
    """Random-texture patches (clean) plus noise; written sequence by sequence (bounded memory)."""
    from hpdesc.data.store import DatasetWriter

    rows = -(-images // 16)
    n_seq = -(-rows // seq_rows)
    counts = [min(seq_rows, rows - i * seq_rows) for i in range(n_seq)]
    names = [f"{'iv'[i % 2]}_mem{i:04d}" for i in range(n_seq)]
    rng = np.random.default_rng(seed)
    with DatasetWriter(path, names, counts, {"source": "benchmarks/memory.py", "images": images}) as w:
        for name, n in zip(names, counts):
            base = rng.integers(0, 256, size=(n, 1, 32, 32), dtype=np.uint8)
            clean = np.repeat(base, 16, axis=1)
            noisy = np.clip(clean + rng.normal(0, 10, clean.shape), 0, 255).astype(np.uint8)
            w.put(name, clean, noisy)
        w.set_split("default", train=names[: n_seq // 2], test=names[n_seq // 2:])
    return path


def run_child(what: str, data: Path, out: Path, dim: int, filters: int, timeout: int, memory: str = "default") -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", HPDESC_NO_PROGRESS="1")
    res = subprocess.run([sys.executable, "-c", CHILD, what, str(data), str(out), str(dim), str(filters), memory],
                         capture_output=True, text=True, env=env, timeout=timeout)
    if res.returncode != 0:
        raise SystemExit(f"{what} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}")
    line = next(x for x in res.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1_000_000, help="patch images in the dataset (16 per row)")
    ap.add_argument("--seq-rows", type=int, default=625, help="rows per sequence")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--filters", type=int, default=4, help="hardnet width (small: this measures memory, not speed)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/hpdesc-mem"))
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--bench-memory", action="append", default=None, metavar="MiB",
                    help="benchmark's descriptor memory budget (repeatable: one benchmark per value; "
                         "'default' = hpdesc's default)")
    a = ap.parse_args()
    a.workdir.mkdir(parents=True, exist_ok=True)
    data = a.workdir / f"patches_{a.images}.h5"
    if not data.exists():
        t0 = time.perf_counter()
        make_dataset(data, a.images, a.seq_rows)
        print(f"wrote {data} ({data.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.0f}s", flush=True)
    out = a.workdir / f"desc_{a.images}.h5"
    if out.exists():
        d = {"skipped": f"{out} exists"}
    else:
        d = run_child("describe", data, out, a.dim, a.filters, a.timeout)
    print(f"describe: {d}", flush=True)
    b = {}
    for mem in a.bench_memory or ["default"]:
        b[mem] = run_child("benchmark", data, out, a.dim, a.filters, a.timeout, mem)
        print(f"benchmark (memory {mem}): {b[mem]}", flush=True)
    with __import__("h5py").File(data) as f:
        raw = f["noisy"].shape[0] * 16 * 32 * 32
    test_desc = out.stat().st_size
    print(json.dumps({"images": a.images, "noisy_uint8_mib": round(raw / 2**20), "descriptor_file_mib":
                      round(test_desc / 2**20), "describe": d, "benchmark": b,
                      "self_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
