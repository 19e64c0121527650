"""End-to-end time of ``hpdesc benchmark`` on a split-a-scale problem, one or more source trees side by side.

Builds, in a temporary folder: a patch dataset whose split ``a`` has 40 test sequences of
1,000-2,000 patches (zero patches: the benchmark never reads them), a 128-d random descriptor
file, and official-format task CSVs (``--tasks DIR``: 1e6 verification pairs per kind, 10,000
queries, 20,000 distractors, written by ``write_task_csvs``). Then runs, as a subprocess each,

    python -m hpdesc benchmark --descriptors D --data DS --tasks DIR --split a --no-cache --json OUT

with ``PYTHONPATH`` set to each tree given (e.g. a checkout of the base commit and this one),
alternating the trees ``--repeat`` times, and prints every run's wall time, the medians, their
ratio, the evaluation seconds each run reports, and whether the trees' numbers agree. Not a test::

    git worktree add --detach /tmp/hpdesc-base ffe5afe
    python benchmarks/benchmark_e2e.py --tree before=/tmp/hpdesc-base --tree after=. --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent.parent
OFFICIAL_SECONDS = 359.0  # hpatches-benchmark's Python evaluator on this problem (issue 13, 2 idle cores)


def build(root: Path, n_test: int, dim: int, n_pairs: int, n_q: int, n_d: int, seed: int = 0) -> dict:
    """Write dataset, descriptors and task CSVs under ``root``; return their paths."""
    sys.path.insert(0, str(HERE))
    import hpdesc.data.store as store
    from hpdesc.benchmark import tasks as T
    from hpdesc.data.descfile import write_descriptors

    rng = np.random.default_rng(seed)
    names = [f"{'iv'[k % 2]}_seq{k:03d}" for k in range(n_test + 4)]
    test, train = names[:n_test], names[n_test:]
    counts = rng.integers(1000, 2001, size=len(names))
    cnt = dict(zip(names, counts.tolist()))
    tc = np.array([cnt[s] for s in test])

    def rows(n):  # (sequence, patch index) pairs; the CSVs give the real task content
        s = rng.integers(0, len(test), n)
        return np.stack([s, rng.integers(0, tc[s])], axis=1).astype(np.int64)

    def verif(n):
        a, b = rows(n), rows(n)
        t = rng.integers(0, 5, (n, 2))
        return np.stack([a[:, 0], t[:, 0], a[:, 1], b[:, 0], t[:, 1], b[:, 1]], axis=1)

    tasks = T.Tasks("a", list(test), {k: verif(n_pairs) for k in T.VERIF_KINDS}, rows(n_q), rows(n_d))
    small = T.Tasks("a", list(test), {k: verif(1000) for k in T.VERIF_KINDS}, rows(100), rows(200))
    # stored tasks (so load_tasks does not generate 1e6 pairs); the CSVs replace all five parts
    ds = root / "data.h5"
    zeros = np.zeros((int(counts.max()), 16, 32, 32), np.uint8)
    with store.DatasetWriter(ds, names, counts, {"source": "benchmarks/benchmark_e2e.py"},
                             tasks=lambda dataset, split: small) as w:
        for s in names:
            w.put(s, zeros[:cnt[s]], zeros[:cnt[s]])
        w.set_split("a", train=train, test=test)
    from hpdesc.data.store import open_dataset

    with open_dataset(ds) as d:
        uid = d.uid
    arrays = ((s, rng.standard_normal((cnt[s], 16, dim), dtype=np.float32)) for s in names)
    desc = write_descriptors(root / "desc.h5", names, arrays,
                             {"dataset": str(ds), "dataset_uid": uid, "descriptor": "random", "run_dir": None},
                             counts=counts.tolist(), dim=dim)
    tdir = root / "tasks"
    tdir.mkdir()
    T.write_task_csvs(tasks, tdir)
    return {"data": ds, "desc": desc, "tasks": tdir}


def run_once(tree: Path, files: dict, out: Path) -> tuple[float, float, dict]:
    """One subprocess run: (wall seconds, its CPU seconds (user + system), the JSON result)."""
    env = dict(os.environ, HPDESC_NO_PROGRESS="1", HPDESC_CACHE_DIR=str(out.parent / "cache"),
               PYTHONPATH=os.pathsep.join([str(tree), str(tree / "plugins" / "hpdesc-ffdnet")]))
    cmd = [sys.executable, "-m", "hpdesc", "benchmark", "--descriptors", str(files["desc"]),
           "--data", str(files["data"]), "--tasks", str(files["tasks"]), "--split", "a", "--no-cache",
           "--json", str(out)]
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(out.parent))
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"{tree}: exit {proc.returncode}\n{proc.stderr}")
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return wall, cpu, json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tree", action="append", default=[], metavar="LABEL=DIR",
                    help="source tree to time (repeatable; default: after=this checkout)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tree, alternating")
    ap.add_argument("--sequences", type=int, default=40)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--pairs", type=int, default=1_000_000, help="verification pairs per kind")
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--distractors", type=int, default=20_000)
    ap.add_argument("--workdir", type=Path, default=None, help="keep the problem here (default: a temp dir)")
    ap.add_argument("--reuse", action="store_true", help="reuse the problem already built in --workdir")
    args = ap.parse_args()
    trees = [t.split("=", 1) for t in (args.tree or [f"after={HERE}"])]
    trees = [(label, Path(d).resolve()) for label, d in trees]

    root = args.workdir or Path(tempfile.mkdtemp(prefix="hpdesc-e2e-"))
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.reuse and (root / "desc.h5").exists():
        files = {"data": root / "data.h5", "desc": root / "desc.h5", "tasks": root / "tasks"}
    else:
        files = build(root, args.sequences, args.dim, args.pairs, args.queries, args.distractors)
    sizes = {k: sum(p.stat().st_size for p in Path(v).glob("*")) if Path(v).is_dir() else Path(v).stat().st_size
             for k, v in files.items()}
    print(f"problem: {args.sequences} test sequences, dim {args.dim}, {args.pairs} pairs per kind, "
          f"{args.queries} queries, {args.distractors} distractors; files "
          + ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in sizes.items())
          + f"; built in {time.perf_counter() - t0:.1f} s in {root}")
    print("command: python -m hpdesc benchmark --descriptors D --data DS --tasks DIR --split a --no-cache")

    walls: dict[str, list[float]] = {label: [] for label, _ in trees}
    cpus: dict[str, list[float]] = {label: [] for label, _ in trees}
    evals: dict[str, list[float]] = {label: [] for label, _ in trees}
    heads: dict[str, dict] = {}
    for r in range(args.repeat):
        for label, tree in trees:
            wall, cpu, res = run_once(tree, files, root / f"out-{label}.json")
            walls[label].append(wall)
            cpus[label].append(cpu)
            evals[label].append(sum(res.get("seconds", {}).values()))
            heads[label] = res["headline"]
            print(f"run {r + 1} {label:>8}: {wall:6.1f} s end to end ({evals[label][-1]:5.1f} s of it evaluating, "
                  f"{wall - evals[label][-1]:5.1f} s not), {cpu:6.1f} s CPU", flush=True)

    print(f"\nmedians over {args.repeat} run(s)\n{'tree':>8} {'wall s':>8} {'eval s':>7} {'other s':>8} {'CPU s':>7} "
          f"{'official 359 s / wall':>22}")
    full = (args.sequences, args.dim, args.pairs, args.queries, args.distractors) == (40, 128, 1_000_000, 10_000, 20_000)
    med = {}
    for label, _ in trees:
        med[label] = statistics.median(walls[label])
        ev = statistics.median(evals[label])
        other = statistics.median([w - e for w, e in zip(walls[label], evals[label])])
        print(f"{label:>8} {med[label]:>8.1f} {ev:>7.1f} {other:>8.1f} {statistics.median(cpus[label]):>7.1f} "
              + (f"{OFFICIAL_SECONDS / med[label]:>21.1f}x" if full else f"{'(other sizes)':>22}"))
    if len(trees) > 1:
        first, last = trees[0][0], trees[-1][0]
        print(f"ratio {first} / {last}: {med[first] / med[last]:.2f}x")
        ref = heads[first]
        same = all(abs(heads[lab][k] - ref[k]) < 1e-12 for lab in heads for k in ref)
        print("headline numbers identical across trees: " + ("yes" if same else f"NO {heads}"))
    print("headline: " + ", ".join(f"{k} {v:.6f}" for k, v in heads[trees[-1][0]].items()))


if __name__ == "__main__":
    main()
