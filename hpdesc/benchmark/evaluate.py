"""Benchmark a descriptor file on a patch dataset: the HPatches protocol's entry point and task table.

The tasks themselves are one module each, as in the reference Python evaluator
(hpatches-benchmark ``utils/tasks.py``): :mod:`~hpdesc.benchmark.verification`,
:mod:`~hpdesc.benchmark.matching`, :mod:`~hpdesc.benchmark.retrieval`, over
:mod:`~hpdesc.benchmark.distances`. ``protocol="python"`` follows that evaluator and
``protocol="paper"`` the paper / MATLAB definitions (docs/benchmark.md). Values are fractions in
[0, 1] (reports print them as percentages).
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np

from hpdesc.benchmark import cache as _cache
from hpdesc.benchmark.distances import DISTANCES
from hpdesc.benchmark.matching import MATCH_BLOCK, evaluate_matching
from hpdesc.benchmark.retrieval import evaluate_retrieval
from hpdesc.benchmark.tasks import Tasks, load_tasks
from hpdesc.benchmark.verification import VERIF_BLOCK, VERIF_MEMORY_BYTES, evaluate_verification
from hpdesc.config import TASKS
from hpdesc.data.descfile import DescriptorSet, open_descriptors
from hpdesc.data.images import LEVELS
from hpdesc.data.store import PatchDataset, default_split, open_dataset
from hpdesc.errors import DataFormatError, UsageError
from hpdesc.progress import Reporter

PROTOCOLS = ("python", "paper")
EVALUATOR_VERSION = 1


@dataclass
class BenchmarkResult:
    """Headline numbers and breakdowns of one descriptor set on one split."""

    descriptor: str
    descriptors_path: str
    dataset: str
    split: str
    protocol: str
    distance: str
    headline: dict[str, float] = field(default_factory=dict)
    breakdown: dict[str, dict] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float:
        vals = [self.headline[t] for t in TASKS if t in self.headline]
        return float(np.mean(vals)) if vals else float("nan")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["mean"] = self.mean
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BenchmarkResult":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class _Job(NamedTuple):
    """What a task is given: descriptors, tasks, the split's test sequences, options, a progress tick."""

    desc: DescriptorSet
    tasks: Tasks
    test: list[str]
    protocol: str
    distance: str
    block: int
    memory: int | None
    tick: Callable[[], None]


class _Task(NamedTuple):
    steps: Callable[[_Job], int]  # progress ticks the task makes
    run: Callable[[_Job], dict]  # -> {"value": headline, "breakdown": {...}}


# one row per name of hpdesc.config.TASKS (tests check that they agree)
TASK_TABLE: dict[str, _Task] = {
    "verification": _Task(lambda j: len(LEVELS), lambda j: evaluate_verification(
        j.desc, j.tasks, j.protocol, j.distance, VERIF_BLOCK, j.tick, j.memory)),
    "matching": _Task(lambda j: len(j.test), lambda j: evaluate_matching(
        j.desc, j.test, j.protocol, j.distance, MATCH_BLOCK, j.tick)),
    "retrieval": _Task(lambda j: 2, lambda j: evaluate_retrieval(
        j.desc, j.tasks, j.protocol, j.distance, j.block, j.tick)),
}


def check_options(distance: str, protocol: str, memory: int | None = None) -> None:
    """The one check of evaluate's distance, protocol and memory options (UsageError)."""
    if memory is not None and not memory > 0:
        raise UsageError(f"memory must be a positive number of bytes, got {memory!r}")
    if distance not in DISTANCES:
        raise UsageError(f"unknown distance {distance!r}; use one of {', '.join(DISTANCES)}")
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")


class _Hold:
    """Read the tasks' descriptors into memory once (:meth:`DescriptorSet.hold`), in a thread.

    Each task reads the test sequences on its own; with two or more to compute, one read into
    memory replaces two or three reads of the file (a third of the run on a 500 MB file). Started
    before the task files are parsed, the read overlaps with that (h5py releases the GIL while it
    reads); ``wait`` returns the seconds the caller then still waited.
    """

    def __init__(self, desc: DescriptorSet, names: Sequence[str], memory: int | None, n_tasks: int):
        names = list(dict.fromkeys(names))
        size = sum(desc.count(n) for n in names) * 16 * desc.dim * 4
        self._pool = None
        if n_tasks >= 2 and size <= (VERIF_MEMORY_BYTES if memory is None else memory):
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="hpdesc-read")
            self._future = self._pool.submit(desc.hold, names)

    def wait(self) -> float | None:
        """Seconds waited for the read (None: nothing held); re-raises the read's error."""
        if self._pool is None:
            return None
        t0 = time.perf_counter()
        try:
            self._future.result()
        finally:
            self._pool.shutdown()
        return time.perf_counter() - t0


def evaluate(descriptors, dataset=None, *, tasks: Sequence[str] = TASKS, split: str | None = None,
             protocol: str = "python", distance: str = "L2", tasks_dir=None, cache: bool | str | Path = True,
             block: int = 256, reporter: Reporter | None = None,
             memory: int | None = None) -> BenchmarkResult:
    """Benchmark a descriptor file on a patch dataset with the HPatches protocol.

    ``descriptors``: path or :class:`~hpdesc.data.descfile.DescriptorSet`; ``dataset``: path,
    :class:`~hpdesc.data.store.PatchDataset` or None (the one recorded in the descriptor file).
    ``cache``: True (default cache dir), a directory, or False. ``reporter``: one bar per task
    computed (``start``, an ``advance`` per step, ``done``; a cached task has none). ``memory``: bytes of
    descriptors held at once (default :data:`~hpdesc.benchmark.verification.VERIF_MEMORY_BYTES`); verification reads larger
    files in parts, matching holds one sequence, retrieval only its queries and distractors.
    """
    check_options(distance, protocol, memory)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise UsageError(f"unknown task {unknown[0]!r}; use one of {', '.join(TASKS)}")
    own_desc = not isinstance(descriptors, DescriptorSet)
    desc = open_descriptors(descriptors) if own_desc else descriptors
    own_ds = not isinstance(dataset, PatchDataset)
    ds = None
    try:
        cfg = desc.config
        if dataset is None:
            dataset = cfg.get("dataset")
            if not dataset:
                raise UsageError(f"{desc.path}: records no dataset; pass --data DATASET")
            if not Path(dataset).exists():
                raise UsageError(f"{desc.path} was made from {dataset}, which does not exist; pass --data DATASET")
        if own_ds:  # opened read-only: benchmarking never writes its input (tasks: load_tasks)
            ds = open_dataset(Path(dataset))
        else:
            ds = dataset
        notes: list[str] = []
        if cfg.get("dataset_uid") and cfg["dataset_uid"] != ds.uid:
            notes.append(f"{desc.path} was computed on another dataset (uid {cfg['dataset_uid'][:8]}, "
                         f"this is {ds.uid[:8]})")
        split = split or default_split(ds.splits, cfg.get("split"), "a")
        test = ds.split(split).get("test", [])
        if not test:
            raise DataFormatError(f"{ds.path}: split {split!r} has no test sequences")
        missing = [s for s in test if s not in desc]
        if missing:
            raise DataFormatError(f"{desc.path}: no descriptors for {len(missing)} test sequence(s) of split "
                                  f"{split!r} (e.g. {', '.join(missing[:3])})",
                                  hint="describe the split's test sequences (hpdesc describe --split ...)")
        bad = [s for s in test if desc.count(s) != ds.count(s)]
        if bad:
            s = bad[0]
            raise DataFormatError(f"{desc.path}: {s} has {desc.count(s)} descriptor rows, the dataset has {ds.count(s)} patches")
        cdir = _cache.cache_dir(cache)
        todo = [x for x in TASKS if x in tasks]
        # no cache: no task can be a hit, so the descriptors' read can overlap with parsing the task files
        early = None if cdir else _Hold(desc, test, memory, len(todo))
        try:
            t = load_tasks(ds, split, tasks_dir, cache=cache)
        finally:
            if early is not None:
                read = early.wait()  # also when load_tasks failed: never leave the thread reading a closing file
        notes.extend(t.notes)
        missing_t = [n for n in t.names if n not in desc]
        if missing_t:
            raise DataFormatError(f"{desc.path}: the tasks use sequence {missing_t[0]!r}, which has no descriptors")
        result = BenchmarkResult(descriptor=desc.label, descriptors_path=str(desc.path), dataset=str(ds.path),
                                 split=split, protocol=protocol, distance=distance, sources=dict(t.sources),
                                 notes=notes)
        fp = desc.fingerprint
        t_hash = t.content_hash if cdir else None  # sha256 of ~150 MB of pairs: once, and only for the cache
        keys = {x: _cache.cache_key(fp, t_hash, protocol, distance, x, EVALUATOR_VERSION) for x in todo} if cdir else {}
        hits = {x: _cache.get(cdir, keys[x]) for x in todo} if cdir else {}
        if early is None:
            read = _Hold(desc, [*t.names, *test], memory, sum(hits.get(x) is None for x in todo)).wait()
        if read is not None:
            result.seconds["read"] = read  # the tasks' shared read of the descriptors (the part not overlapped)
        for task in todo:
            hit = hits.get(task)
            if hit is None:
                rep = reporter if reporter is not None else Reporter()
                job = _Job(desc, t, list(test), protocol, distance, block, memory, rep.advance)
                rep.start(f"{Path(str(desc.path)).name}: {task}", TASK_TABLE[task].steps(job))
                t0 = time.perf_counter()
                hit = TASK_TABLE[task].run(job)
                result.seconds[task] = time.perf_counter() - t0
                rep.done()
                if cdir:
                    _cache.put(cdir, keys[task], hit)
            else:
                result.cached.append(task)
            result.headline[task] = hit["value"]
            result.breakdown[task] = hit["breakdown"]
        return result
    finally:
        desc.release()
        if own_desc:
            desc.close()
        if own_ds and ds is not None:
            ds.close()

