"""HPatches benchmark task definitions: generation, official files, the stored-or-cached lookup.

Verification pairs and retrieval queries/distractors are generated exactly like
hpatches-benchmark's ``gen_verif`` / ``gen_retrieval`` (numpy legacy RNG seeded 42, same draw
order), with counts scaled down for small datasets. Dataset writers store them once per split
(:func:`build_tasks` is the ``tasks=`` of :class:`~hpdesc.data.store.DatasetWriter`) so that every
run is evaluated on the same tasks; for a file made without them, benchmarking generates them
into a cache keyed by the file's uid and never writes the file (:func:`stored_tasks`). The
official retrieval files are shipped (BSD-2-Clause, resources/hpatches_tasks/COPYING) and used when
a split's test sequences are the real HPatches ones. ``--tasks DIR`` loads official CSVs.

The in-memory layout (:class:`~hpdesc.data.tasks.Tasks`) and the storage are :mod:`hpdesc.data.tasks`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from hpdesc.atomic import atomic_path
from hpdesc.benchmark.cache import cache_dir
from hpdesc.benchmark.cache import tasks_dir as generated_dir
from hpdesc.benchmark.taskcsv import read_task_csv
from hpdesc.data.store import add_tasks
from hpdesc.data.tasks import RETR_KINDS, TASKS_VERSION, VERIF_KINDS, Tasks, load_npz, save_npz, verification_rows
from hpdesc.errors import DataFormatError, UsageError

SEED = 42
VERIF_FILES = {k: f"verif_{k}_split-{{split}}.csv" for k in VERIF_KINDS}
RETR_FILES = {k: f"retr_{k}_split-{{split}}.csv" for k in RETR_KINDS}
MAX_VERIF = 1_000_000
MAX_QUERIES = 10_000
MAX_DISTRACTORS = 20_000
STD_MIN = 10.0
RESOURCES = Path(__file__).resolve().parent.parent / "resources" / "hpatches_tasks"


# -- sizes -------------------------------------------------------------------------------

def default_counts(n_test_patches: int) -> dict[str, int]:
    """Task sizes for a split with ``n_test_patches`` patches: the reference sizes, scaled down."""
    n = int(n_test_patches)
    return {
        "verif": int(min(MAX_VERIF, max(1000, 25 * n))),
        "queries": int(min(MAX_QUERIES, max(1, n // 4))),
        "distractors": int(min(MAX_DISTRACTORS, max(1, n // 2))),
    }


# -- generators (draw order of hpatches-benchmark utils/tasks.py) --------------------------

def generate_verification(counts: np.ndarray, n_pairs: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """Verification pairs over sequences with ``counts`` patches each (indices into counts).

    Draws: N sequences; N pairs of distinct patch indices (``choice(arange(k), 2,
    replace=False)``, i.e. ``permutation(k)[:2]``); N pairs of distinct image ids from 0..4;
    N inter sequences; their N patch indices.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size == 0 or counts.min() < 2:
        raise DataFormatError("verification pairs need at least 2 patches in every test sequence")
    rs = np.random.RandomState(seed)
    n = int(n_pairs)
    s = rs.choice(len(counts), n)
    perm = rs.permutation
    # filled in place: a list of ``perm(k)[:2]`` views would keep every k-long permutation alive
    # (GiBs for a million pairs)
    idx = np.empty((n, 2), dtype=np.int64)
    for r, k in enumerate(counts[s]):
        idx[r] = perm(k)[:2]
    typ = np.empty((n, 2), dtype=np.int64)
    for r in range(n):
        typ[r] = perm(5)[:2]
    s2 = rs.choice(len(counts), n)
    j = rs.randint(0, counts[s2]).astype(np.int64) if n else np.zeros(0, np.int64)
    return {"s": s.astype(np.int64), "i1": idx[:, 0], "i2": idx[:, 1], "ta": typ[:, 0], "tb": typ[:, 1],
            "s2": s2.astype(np.int64), "j": j}


def generate_retrieval(counts: np.ndarray, keep, n_queries: int, n_distractors: int,
                       seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Retrieval queries and distractors ``(Q, 2)``, ``(Dn, 2)`` of (sequence index, patch index).

    ``keep(s, idx) -> bool array``: the std > 10 filter on the ``ref`` patches. Candidates:
    4 x queries and 10 x distractors drawn uniformly (sequence, then patch); filtered;
    duplicates dropped (first kept); queries cut to ``n_queries``; distractors that are queries
    removed; cut to ``n_distractors``.
    """
    counts = np.asarray(counts, dtype=np.int64)
    rs = np.random.RandomState(seed)
    s_q = rs.choice(len(counts), int(n_queries) * 4)
    i_q = rs.randint(0, counts[s_q]) if s_q.size else np.zeros(0, np.int64)
    s_d = rs.choice(len(counts), int(n_distractors) * 10)
    i_d = rs.randint(0, counts[s_d]) if s_d.size else np.zeros(0, np.int64)
    q = np.stack([s_q, i_q], axis=1).astype(np.int64)
    d = np.stack([s_d, i_d], axis=1).astype(np.int64)
    q = _unique_first(q[keep(q[:, 0], q[:, 1])])[: int(n_queries)]
    d = _unique_first(d[keep(d[:, 0], d[:, 1])])
    base = int(counts.max()) + 1
    d = d[~np.isin(d[:, 0] * base + d[:, 1], q[:, 0] * base + q[:, 1])][: int(n_distractors)]
    return q, d


def _unique_first(rows: np.ndarray) -> np.ndarray:
    if rows.size == 0:
        return rows.reshape(0, 2)
    _, first = np.unique(rows, axis=0, return_index=True)
    return rows[np.sort(first)]


# -- official files -------------------------------------------------------------------------

def shipped_splits() -> dict:
    return json.loads((RESOURCES / "splits.json").read_text())


def _official_retrieval(split: str, test: list[str], counts: dict[str, int]):
    """The shipped official retrieval tables if ``test`` is a real HPatches split's test list."""
    for name, sp in shipped_splits().items():
        if sorted(sp.get("test", [])) != sorted(test):
            continue
        names = list(test)
        try:
            q = read_task_csv(RESOURCES / RETR_FILES["queries"].format(split=name), ("s", "idx"), names, counts)
            d = read_task_csv(RESOURCES / RETR_FILES["distractors"].format(split=name), ("s", "idx"), names, counts)
        except DataFormatError:
            return None  # same names, other patches: not the real HPatches data
        if names != list(test):
            return None
        return q, d, name
    return None


# -- generation from a dataset ----------------------------------------------------------------

def build_tasks(dataset, split: str, sizes: dict[str, int] | None = None) -> Tasks:
    """Generate (or take the shipped official) tasks of ``split`` of a patch dataset.

    ``dataset``: a :class:`~hpdesc.data.store.PatchDataset`; ``sizes`` overrides
    :func:`default_counts`. Raises DataFormatError when the split cannot have tasks.
    """
    test = list(dataset.split(split).get("test", []))
    missing = [s for s in test if s not in dataset]
    if missing:
        raise DataFormatError(f"split {split!r} names unknown sequence(s) {', '.join(missing[:5])}")
    counts = np.array([dataset.count(s) for s in test], dtype=np.int64)
    n_test = int(counts.sum())
    sz = {**default_counts(n_test), **(sizes or {})}
    verif = verification_rows(generate_verification(counts, sz["verif"]))
    sources = {k: f"generated (seed {SEED}, {sz['verif']} pairs)" for k in VERIF_KINDS}
    official = _official_retrieval(split, test, {s: int(c) for s, c in zip(test, counts)})
    if official is not None:
        q, d, name = official
        sources.update({k: f"official hpatches-benchmark split {name}" for k in RETR_KINDS})
    else:
        std_cache: dict[int, np.ndarray] = {}

        def keep(si: np.ndarray, idx: np.ndarray) -> np.ndarray:
            out = np.zeros(si.shape, dtype=bool)
            for k in np.unique(si):
                if int(k) not in std_cache:
                    ref = dataset.patches(test[int(k)], 0).astype(np.float64)
                    std_cache[int(k)] = ref.reshape(ref.shape[0], -1).std(axis=1)
                sel = si == k
                out[sel] = std_cache[int(k)][idx[sel]] > STD_MIN
            return out

        q, d = generate_retrieval(counts, keep, sz["queries"], sz["distractors"])
        sources.update({k: f"generated (seed {SEED}, std > {STD_MIN:g})" for k in RETR_KINDS})
    return Tasks(split, list(test), verif, q, d, sources, seed=SEED)


def ensure_tasks(dataset_path, split: str | None = None) -> bool:
    """Add missing ``/tasks`` groups to an older patch file in place (copy to temp, add, rename).

    An explicit upgrade that rewrites the file: only call it on request. Benchmarking never does
    (it reads stored tasks, else :func:`stored_tasks` generates them into a cache beside the file).
    Returns True if the file was rewritten.
    """
    return add_tasks(dataset_path, build_tasks, split)


def tasks_cache_path(dataset, split: str, cache_dir) -> Path | None:
    """Where generated tasks of ``split`` of ``dataset`` are cached (None: the file has no uid).

    Keyed by the dataset's ``uid`` (stamped at creation) and, to be safe against edited copies,
    the split's test sequences and their patch counts, the task version and the seed.
    """
    if cache_dir is None or not dataset.uid:
        return None
    test = list(dataset.split(split).get("test", []))
    counts = [dataset.count(s) if s in dataset else -1 for s in test]
    raw = json.dumps([dataset.uid, split, test, counts, TASKS_VERSION, SEED])
    return Path(cache_dir) / f"{dataset.uid}-{hashlib.sha256(raw.encode()).hexdigest()[:16]}.npz"


def stored_tasks(dataset, split: str, cache_dir=None) -> Tasks:
    """Tasks of ``split`` stored in the patch file, else generated ones; never writes the file.

    Generated tasks are kept in ``cache_dir`` (a file per dataset uid and split,
    :func:`tasks_cache_path`) so later benchmarks reuse them; without a cache directory, or when
    it cannot be written, they are generated in memory for this run. A note says which.
    """
    stored = dataset.stored_tasks(split)
    if stored is not None:
        return stored
    cached = tasks_cache_path(dataset, split, cache_dir)
    tasks = load_npz(cached, split) if cached is not None and cached.is_file() else None
    if tasks is not None:
        tasks.notes.append(f"{dataset.path} has no stored tasks for split {split!r}: "
                           f"using the ones generated earlier ({cached})")
        return tasks
    tasks = build_tasks(dataset, split)
    where = "for this run"
    if cached is not None:
        try:
            save_npz(cached, tasks)
            where = f"and cached them in {cached}"
        except OSError:
            pass  # a cache that cannot be written is only slower
    tasks.notes.append(f"{dataset.path} has no stored tasks for split {split!r}: generated them {where}")
    return tasks


def load_tasks(dataset, split: str, tasks_dir: str | os.PathLike | None = None, cache=False) -> Tasks:
    """Tasks of ``split``: stored ones (else generated and kept in the cache, :func:`stored_tasks`),
    with any ``verif_*.csv`` / ``retr_*.csv`` found in ``tasks_dir`` replacing their part.

    ``dataset``: a :class:`~hpdesc.data.store.PatchDataset`. ``cache``: keep generated tasks and
    parsed task files (True: the benchmark cache directory, a path: that one, False: none), see
    :mod:`hpdesc.benchmark.taskcsv`.
    """
    test = dataset.split(split).get("test", [])  # an unknown split lists the available ones
    if tasks_dir is None:
        return stored_tasks(dataset, split, generated_dir(cache))
    tdir = Path(tasks_dir)
    if not tdir.is_dir():
        raise UsageError(f"--tasks {tdir}: no such directory")
    files = [tdir / VERIF_FILES[k].format(split=split) for k in VERIF_KINDS]
    files += [tdir / RETR_FILES[k].format(split=split) for k in RETR_KINDS]
    if all(p.exists() for p in files):  # every part comes from the folder: the stored pairs are not read
        empty = np.zeros((0, 2), np.int64)
        tasks = Tasks(split, list(test), {}, empty, empty)
    else:
        tasks = stored_tasks(dataset, split, generated_dir(cache))
    counts = {s: dataset.count(s) for s in dataset.sequences}
    for kind in VERIF_KINDS:
        p = tdir / VERIF_FILES[kind].format(split=split)
        if p.exists():
            tasks.verif[kind] = read_task_csv(p, ("s1", "t1", "idx1", "s2", "t2", "idx2"), tasks.names, counts,
                                              cache_dir(cache))
            tasks.sources[kind] = str(p)
        else:
            tasks.notes.append(f"{p.name} not in {tdir}: using the generated {kind} pairs")
    for kind in RETR_KINDS:
        p = tdir / RETR_FILES[kind].format(split=split)
        if p.exists():
            arr = read_task_csv(p, ("s", "idx"), tasks.names, counts, cache_dir(cache))
            setattr(tasks, kind, arr)
            tasks.sources[kind] = str(p)
        else:
            tasks.notes.append(f"{p.name} not in {tdir}: using the stored {kind}")
    return tasks


def write_task_csvs(tasks: Tasks, out_dir) -> list[Path]:
    """Write the tasks as hpatches-benchmark CSV files (names ``verif_*`` / ``retr_*``)."""
    out = Path(out_dir)
    written = []
    for kind in VERIF_KINDS:
        p = out / VERIF_FILES[kind].format(split=tasks.split)
        rows = tasks.verif[kind]
        lines = ["s1,t1,idx1,s2,t2,idx2"] + [
            f"{tasks.names[a]},{b},{c},{tasks.names[d]},{e},{g}" for a, b, c, d, e, g in rows.tolist()]
        with atomic_path(p) as tmp:
            tmp.write_text("\n".join(lines) + "\n")
        written.append(p)
    for kind in RETR_KINDS:
        p = out / RETR_FILES[kind].format(split=tasks.split)
        rows = getattr(tasks, kind)
        lines = ["s,idx"] + [f"{tasks.names[a]},{b}" for a, b in rows.tolist()]
        with atomic_path(p) as tmp:
            tmp.write_text("\n".join(lines) + "\n")
        written.append(p)
    return written

