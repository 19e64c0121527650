"""Time hpdesc's HPatches evaluator against the per-pair / per-query reference loops.

Builds a descriptor file of real HPatches size (116 sequences of ~1000 patches, random
descriptors), 1e6 verification pairs of each kind (the reference generator), 10,000 queries and
20,000 distractors, then times hpdesc on the full task and the reference implementation
(benchmarks/reference_eval.py) on a subset, extrapolating linearly (said in the output), and
checks that both give the same numbers on that subset (to 1e-6).

    python benchmarks/eval_speed.py                # full size (needs ~3 GB RAM, a few minutes)
    python benchmarks/eval_speed.py --scale 0.1    # everything 10x smaller
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_eval as R  # noqa: E402

from hpdesc.benchmark.matching import evaluate_matching  # noqa: E402
from hpdesc.benchmark.retrieval import evaluate_retrieval  # noqa: E402
from hpdesc.benchmark.tasks import generate_retrieval, generate_verification  # noqa: E402
from hpdesc.benchmark.verification import VERIF_BLOCK, evaluate_verification  # noqa: E402
from hpdesc.data.descfile import open_descriptors, write_descriptors  # noqa: E402
from hpdesc.data.tasks import Tasks, verification_rows  # noqa: E402


def _subset(t: Tasks, n_pairs=None, n_queries=None) -> Tasks:
    v = {k: a[:n_pairs] for k, a in t.verif.items()} if n_pairs else t.verif
    return Tasks(t.split, t.names, v, t.queries[:n_queries] if n_queries else t.queries, t.distractors, t.sources)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=1.0, help="shrink every size by this factor")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--ref-pairs", type=int, default=20000, help="verification pairs (per kind) for the reference")
    ap.add_argument("--ref-queries", type=int, default=200, help="retrieval queries for the reference")
    ap.add_argument("--ref-sequences", type=int, default=4, help="matching sequences for the reference")
    ap.add_argument("--protocol", default="python", choices=("python", "paper"))
    ap.add_argument("--distance", default="L2", choices=("L2", "L1"))
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    n_seq = max(4, int(round(116 * min(1.0, args.scale))))
    names = [f"{'i' if k < n_seq // 2 else 'v'}_seq{k:03d}" for k in range(n_seq)]
    counts = rng.integers(900, 1100, size=n_seq)
    n_pairs = int(1_000_000 * args.scale)
    n_q, n_d = int(10_000 * args.scale), int(20_000 * args.scale)
    print(f"sizes: {n_seq} sequences, {counts.sum()} patches, dim {args.dim}, {n_pairs} pairs per kind, "
          f"{n_q} queries, {n_d} distractors; protocol {args.protocol}, distance {args.distance}")

    t0 = time.perf_counter()
    arrays = {s: rng.standard_normal((n, 16, args.dim), dtype=np.float32) for s, n in zip(names, counts)}
    tmp = Path(tempfile.mkdtemp(prefix="hpdesc-speed-"))
    write_descriptors(tmp / "desc.h5", names, arrays, {"descriptor": "random"})
    verif = verification_rows(generate_verification(counts, n_pairs))
    q, d = generate_retrieval(counts, lambda s, i: np.ones(s.shape, bool), n_q, n_d)
    tasks = Tasks("full", names, verif, q, d)
    print(f"setup (descriptors + task generation): {time.perf_counter() - t0:.1f} s")

    tick = lambda: None  # noqa: E731
    times, ref_times, checks = {}, {}, {}
    with open_descriptors(tmp / "desc.h5") as desc:
        t0 = time.perf_counter()
        full_v = evaluate_verification(desc, tasks, args.protocol, args.distance, VERIF_BLOCK, tick)
        times["verification"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        full_m = evaluate_matching(desc, names, args.protocol, args.distance, 1024, tick)
        times["matching"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        full_r = evaluate_retrieval(desc, tasks, args.protocol, args.distance, 256, tick)
        times["retrieval"] = time.perf_counter() - t0

        # reference on subsets, extrapolated linearly
        np_ref = min(args.ref_pairs, n_pairs)
        sub = _subset(tasks, n_pairs=np_ref)
        t0 = time.perf_counter()
        rv, _ = R.verification(arrays, sub, args.protocol, args.distance)
        ref_times["verification"] = (time.perf_counter() - t0) * n_pairs / np_ref
        checks["verification"] = abs(rv - evaluate_verification(desc, sub, args.protocol, args.distance, VERIF_BLOCK, tick)["value"])

        ns = min(args.ref_sequences, n_seq)
        t0 = time.perf_counter()
        rm, _ = R.matching(arrays, names[:ns], args.protocol, args.distance)
        ref_times["matching"] = (time.perf_counter() - t0) * n_seq / ns
        checks["matching"] = abs(rm - evaluate_matching(desc, names[:ns], args.protocol, args.distance, 1024, tick)["value"])

        nq = min(args.ref_queries, q.shape[0])
        t0 = time.perf_counter()
        rr, ref_aps = R.retrieval(arrays, tasks, args.protocol, args.distance, n_queries=nq)
        ref_times["retrieval"] = (time.perf_counter() - t0) * q.shape[0] / nq
        checks["retrieval"] = abs(rr - evaluate_retrieval(desc, _subset(tasks, n_queries=nq), args.protocol, args.distance, 256, tick)["value"])

    print(f"\n{'task':<14}{'hpdesc s':>10}{'reference s':>14}{'ratio':>9}   max |diff| on the reference subset")
    for k in times:
        print(f"{k:<14}{times[k]:>10.2f}{ref_times[k]:>14.1f}{ref_times[k] / times[k]:>8.1f}x   {checks[k]:.2e}")
    tot, rtot = sum(times.values()), sum(ref_times.values())
    print(f"{'total':<14}{tot:>10.2f}{rtot:>14.1f}{rtot / tot:>8.1f}x")
    print(f"\nreference timed on subsets and extrapolated linearly: {np_ref} of {n_pairs} pairs per kind, "
          f"{ns} of {n_seq} sequences, {nq} of {q.shape[0]} queries")
    print(f"hpdesc headline: verification {full_v['value']:.6f}, matching {full_m['value']:.6f}, "
          f"retrieval {full_r['value']:.6f}")
    ok = all(v < 1e-6 for v in checks.values())
    print("numbers agree to 1e-6: " + ("yes" if ok else "NO"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
