"""Benchmark task definitions as stored data: the ``/tasks/<split>`` groups of a patch file and
the ``.npz`` files that cache generated tasks (layouts in docs/formats.md).

Only storage lives here. Generating tasks (the reference generators, the shipped official files)
is :mod:`hpdesc.benchmark.tasks`; a dataset writer that should store tasks is handed a
:data:`TaskMaker` by the caller (:class:`hpdesc.data.store.DatasetWriter`).

Row layout in memory: verification ``(N, 6)`` int64 ``s1, t1, idx1, s2, t2, idx2`` and retrieval
``(Q, 2)`` ``s, idx``, where ``s`` indexes :attr:`Tasks.names`; ``t`` is the task-file image id
(0 = ref, 1..5, see :func:`hpdesc.data.images.image_index`). In the file the three verification
tables share their columns: the generator's draws ``s, ta, i1, tb, i2, s2, j`` are stored once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from hpdesc.atomic import atomic_path
from hpdesc.errors import DataFormatError

TASKS_VERSION = 1
VERIF_KINDS = ("pos", "neg_intra", "neg_inter")
RETR_KINDS = ("queries", "distractors")
DRAWS = ("s", "i1", "i2", "ta", "tb", "s2", "j")  # the stored verification columns
_STR = h5py.string_dtype("utf-8")


@dataclass
class Tasks:
    """The task definitions of one split (see the module docstring for the array layout).

    ``seed``: the generator seed, recorded with stored tasks (None: not generated here).
    """

    split: str
    names: list[str]
    verif: dict[str, np.ndarray]
    queries: np.ndarray
    distractors: np.ndarray
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seed: int | None = None

    @property
    def content_hash(self) -> str:
        """sha256 of the task content (names and rows), for cache keys."""
        h = hashlib.sha256(json.dumps(self.names).encode())
        for k in VERIF_KINDS:
            h.update(k.encode())
            h.update(np.ascontiguousarray(self.verif[k], dtype=np.int64).tobytes())
        for arr in (self.queries, self.distractors):
            h.update(b"|")
            h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
        return h.hexdigest()


# ``make(dataset, split) -> Tasks`` with ``dataset`` a PatchDataset; raises DataFormatError when the
# split cannot have tasks (then the file records why). hpdesc's is hpdesc.benchmark.tasks.build_tasks.
TaskMaker = Callable[[Any, str], Tasks]


def verification_rows(parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The three ``(N, 6)`` pair tables from the generator's draws (:data:`DRAWS`)."""
    s, i1, i2, ta, tb, s2, j = (parts[k] for k in DRAWS)
    return {
        "pos": np.stack([s, ta, i1, s, tb, i1], axis=1),
        "neg_intra": np.stack([s, ta, i1, s, tb, i2], axis=1),
        "neg_inter": np.stack([s, ta, i1, s2, tb, j], axis=1),
    }


def _decode(arr) -> list[str]:
    return [x.decode() if isinstance(x, bytes) else str(x) for x in arr]


# -- /tasks/<split> in a patch file -----------------------------------------------------------

def read_group(f: h5py.File, split: str) -> Tasks | None:
    """The tasks stored under ``/tasks/<split>`` of an open patch file, None if there are none.

    Raises DataFormatError when the group says the split has no tasks, or has another version.
    """
    if "tasks" not in f or split not in f["tasks"]:
        return None
    g = f["tasks"][split]
    if "unavailable" in g.attrs:
        raise DataFormatError(f"no benchmark tasks for split {split!r}: {g.attrs['unavailable']}")
    if int(g.attrs.get("version", -1)) != TASKS_VERSION:
        raise DataFormatError(f"tasks of split {split!r} have version {g.attrs.get('version')}, "
                              f"this hpdesc reads version {TASKS_VERSION}")
    parts = {k: g["verif"][k][()].astype(np.int64) for k in DRAWS}
    seed = int(g.attrs["seed"]) if "seed" in g.attrs else None
    return Tasks(split, _decode(g["names"][()]), verification_rows(parts),
                 g["retr_queries"][()].astype(np.int64).reshape(-1, 2),
                 g["retr_distractors"][()].astype(np.int64).reshape(-1, 2),
                 json.loads(g.attrs.get("sources", "{}")), seed=seed)


def _new_group(f: h5py.File, split: str) -> h5py.Group:
    root = f.require_group("tasks")
    if split in root:
        del root[split]
    return root.create_group(split)


def write_group(f: h5py.File, t: Tasks) -> None:
    """Store ``t`` as ``/tasks/<t.split>`` of the writable patch file ``f`` (replacing any)."""
    g = _new_group(f, t.split)
    g.attrs["version"] = TASKS_VERSION
    if t.seed is not None:
        g.attrs["seed"] = int(t.seed)
    g.attrs["sources"] = json.dumps(t.sources, sort_keys=True)
    g.create_dataset("names", data=np.array(t.names, dtype=object), dtype=_STR)
    v = t.verif
    parts = {"s": v["pos"][:, 0], "ta": v["pos"][:, 1], "i1": v["pos"][:, 2], "tb": v["pos"][:, 4],
             "i2": v["neg_intra"][:, 5], "s2": v["neg_inter"][:, 3], "j": v["neg_inter"][:, 5]}
    vg = g.create_group("verif")
    for k, arr in parts.items():
        dt = np.int8 if k in ("ta", "tb") else np.int32
        vg.create_dataset(k, data=arr.astype(dt), chunks=(max(1, min(65536, arr.size)),),
                          compression="gzip", shuffle=True)
    g.create_dataset("retr_queries", data=t.queries.astype(np.int32).reshape(-1, 2))
    g.create_dataset("retr_distractors", data=t.distractors.astype(np.int32).reshape(-1, 2))


def write_unavailable(f: h5py.File, split: str, why: str) -> None:
    """Record in ``/tasks/<split>`` that the split has no tasks, and why (read back as an error)."""
    f.require_group("tasks").require_group(split).attrs["unavailable"] = why


def store_all(f: h5py.File, dataset, make: TaskMaker, splits=None) -> None:
    """Make and store the tasks of ``splits`` (default: every split of ``dataset``) in ``f``.

    ``dataset``: a PatchDataset reading ``f``. A split whose tasks cannot be made
    (``make`` raises DataFormatError, e.g. a test sequence with fewer than 2 patches) gets a group
    that says why.
    """
    for split in (list(dataset.splits) if splits is None else splits):
        try:
            write_group(f, make(dataset, split))
        except DataFormatError as exc:
            write_unavailable(f, split, exc.message)


# -- generated-tasks cache file ----------------------------------------------------------------

def save_npz(path: Path, t: Tasks) -> None:
    """Write ``t`` to ``path`` (``.npz``, atomically)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, names=np.array(t.names, dtype=str), queries=t.queries, distractors=t.distractors,
                     sources=np.array(json.dumps(t.sources, sort_keys=True)),
                     **{f"verif_{k}": t.verif[k] for k in VERIF_KINDS})


def load_npz(path: Path, split: str) -> Tasks | None:
    """Tasks saved by :func:`save_npz`; None if the file is missing or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as z:
            verif = {k: z[f"verif_{k}"].astype(np.int64) for k in VERIF_KINDS}
            return Tasks(split, [str(x) for x in z["names"]], verif, z["queries"].astype(np.int64).reshape(-1, 2),
                         z["distractors"].astype(np.int64).reshape(-1, 2), json.loads(str(z["sources"])))
    except (OSError, ValueError, KeyError):
        return None  # missing or unreadable: generate again
