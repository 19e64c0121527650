"""The versioned HDF5 patch store (layout documented in docs/formats.md).

One file per dataset. Patches of sequence ``s`` are the rows ``seq_offsets[s]:seq_offsets[s+1]``
of ``clean`` / ``noisy``, shape ``(P, 16, 32, 32)`` uint8, image axis in
:data:`hpdesc.data.images.IMAGES` order. Chunks hold one image of a block of rows, so reading
one sequence or one image touches only its chunks.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import uuid
from pathlib import Path
from typing import Iterable, Sequence

import h5py
import numpy as np

from hpdesc.atomic import reading
from hpdesc.data.tasks import TaskMaker, Tasks, read_group, store_all
from hpdesc.data.images import IMAGES
from hpdesc.data.h5write import AtomicH5Writer, atomic_h5
from hpdesc.errors import DataFormatError, UsageError

PATCHES_FORMAT = "hpdesc.patches"
PATCHES_VERSION = 1
PATCH_KINDS = ("clean", "noisy")
CHUNK_ROWS = 128
_STR = h5py.string_dtype("utf-8")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def write_root_attrs(f: h5py.File, fmt: str, version: int, config: dict) -> None:
    """Stamp the root attributes every hpdesc HDF5 file carries (style.md, "HDF5")."""
    from hpdesc import __version__

    f.attrs["format"] = fmt
    f.attrs["format_version"] = int(version)
    f.attrs["created_by"] = f"hpdesc {__version__}"
    f.attrs["created_at"] = _now()
    f.attrs["uid"] = uuid.uuid4().hex
    f.attrs["config"] = json.dumps(config, sort_keys=True, default=str)


def open_checked(path: str | os.PathLike, fmt: str, version: int, required: Iterable[str]) -> h5py.File:
    """Open ``path`` read-only and check format name, version and required datasets.

    Raises DataFormatError naming the file and what is wrong.
    """
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p}: no such file")
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise DataFormatError(f"{p}: not an HDF5 file ({exc.__class__.__name__})") from None
    try:
        got = f.attrs.get("format")
        if isinstance(got, bytes):
            got = got.decode()
        if got != fmt:
            what = f"format {got!r}" if got is not None else "no 'format' attribute"
            raise DataFormatError(f"{p}: not an hpdesc {fmt!r} file ({what})")
        ver = int(f.attrs.get("format_version", -1))
        if ver != version:
            raise DataFormatError(
                f"{p}: {fmt} format version {ver}, this hpdesc reads version {version}",
                hint="re-create the file with this version of hpdesc",
            )
        missing = [name for name in required if name not in f]
        if missing:
            raise DataFormatError(f"{p}: missing dataset(s) {', '.join(missing)}")
    except BaseException:
        f.close()
        raise
    return f


def _decode(arr) -> list[str]:
    return [x.decode() if isinstance(x, bytes) else str(x) for x in arr]


def write_index(f: h5py.File, names: Sequence[str], counts: Sequence[int]) -> None:
    """Write the sequence index: names, offsets, and per-row sequence / patch-index columns."""
    offsets = np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))])
    f.create_dataset("sequences", data=np.array(list(names), dtype=object), dtype=_STR)
    f.create_dataset("seq_offsets", data=offsets)
    f.create_dataset("images", data=np.array(list(IMAGES), dtype=object), dtype=_STR)
    seq = np.repeat(np.arange(len(names), dtype=np.int32), counts)
    idx = np.concatenate([np.arange(c, dtype=np.int32) for c in counts]) if len(counts) else np.zeros(0, np.int32)
    f.create_dataset("seq", data=seq, chunks=True, compression="gzip")
    f.create_dataset("idx", data=idx, chunks=True, compression="gzip")


def create_patch_array(f: h5py.File, name: str, rows: int, dtype="uint8", tail=(len(IMAGES), 32, 32)):
    """Create a chunked, compressed array of ``rows`` patch rows (one image per chunk)."""
    chunk_rows = max(1, min(CHUNK_ROWS, rows))
    kw = dict(compression="gzip", compression_opts=4, shuffle=True) if np.dtype(dtype) == np.uint8 else {}
    return f.create_dataset(name, shape=(rows,) + tuple(tail), dtype=dtype,
                            chunks=(chunk_rows, 1) + tuple(tail[1:]), **kw)


class DatasetWriter(AtomicH5Writer):
    """Stream sequences into a new patch file, atomically (temporary file + rename).

    Usage::

        with DatasetWriter(path, names, counts, config, tasks=build_tasks) as w:
            for name, clean, noisy in ...:
                w.put(name, clean, noisy)      # (N, 16, 32, 32) uint8 each
            w.set_split("a", train=[...], test=[...])

    ``tasks``: makes each split's benchmark tasks once the patches are in, stored as
    ``/tasks/<split>`` before the rename (so every run is evaluated on the same tasks); hpdesc's
    commands pass :func:`hpdesc.benchmark.tasks.build_tasks`. None stores no tasks (benchmarking
    then generates the same ones into its cache).
    """

    def __init__(self, path, names: Sequence[str], counts: Sequence[int], config: dict,
                 tasks: TaskMaker | None = None):
        self.path = Path(path)
        self.names = list(names)
        self.counts = [int(c) for c in counts]
        self.config = config
        self.tasks = tasks
        self._offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        self._done: set[str] = set()

    def _create(self, f: h5py.File) -> None:
        write_root_attrs(f, PATCHES_FORMAT, PATCHES_VERSION, self.config)
        write_index(f, self.names, self.counts)
        total = int(self._offsets[-1])
        for kind in PATCH_KINDS:
            create_patch_array(f, kind, total)
        f.create_group("splits")

    def put(self, name: str, clean: np.ndarray, noisy: np.ndarray) -> None:
        """Store the (N, 16, 32, 32) uint8 clean and noisy patches of sequence ``name``."""
        s = self.names.index(name)
        lo, hi = self._offsets[s], self._offsets[s + 1]
        for kind, arr in (("clean", clean), ("noisy", noisy)):
            arr = np.asarray(arr)
            if arr.shape != (hi - lo, len(IMAGES), 32, 32) or arr.dtype != np.uint8:
                raise ValueError(f"{name}/{kind}: expected {(hi - lo, len(IMAGES), 32, 32)} uint8, got {arr.shape} {arr.dtype}")
            self.f[kind][lo:hi] = arr
        self._done.add(name)

    def set_split(self, split: str, train: Sequence[str], test: Sequence[str]) -> None:
        """Record a split (train / test sequence names)."""
        g = self.f["splits"].require_group(split)
        for key, seqs in (("train", train), ("test", test)):
            g.create_dataset(key, data=np.array(list(seqs), dtype=object), dtype=_STR)

    def _finish(self, f: h5py.File) -> None:
        missing = [n for n in self.names if n not in self._done]
        if missing:
            raise ValueError(f"sequences never written: {missing[:5]}")
        if self.tasks is not None:
            store_all(f, PatchDataset.over(f, self.path), self.tasks)


def add_tasks(path, make: TaskMaker, split: str | None = None) -> bool:
    """Store the missing ``/tasks`` groups of a patch file in place (copy to temp, add, rename).

    When ``split`` (default: any split) has no tasks, the tasks of every split without them are
    made with ``make``; returns True if the file was rewritten. An explicit upgrade of a file
    made without tasks: nothing else rewrites a patch file.
    """
    path = Path(path)
    with open_dataset(path) as ds:
        splits = list(ds.splits)
        have = set(ds.f["tasks"]) if "tasks" in ds.f else set()
    want = [s for s in splits if s not in have]
    if split is not None and split not in want:
        return False
    if not want:
        return False
    with atomic_h5(path, copy_of=path) as f:
        store_all(f, PatchDataset.over(f, path), make, want)
    return True


class IndexedFile:
    """Common reader of hpdesc files that carry the sequence index (patches, denoised, descriptors).

    Checks format, version and required datasets on open; maps sequence names to row ranges.
    Subclasses name their main array in ``DATA`` and check its shape in ``_check_shape``.
    """

    FORMAT = ""
    VERSION = 0
    DATA = ""
    REQUIRED: tuple[str, ...] = ("sequences", "seq_offsets")
    WHAT = "sequence"  # how "no <WHAT> 'x'" errors speak of an unknown sequence

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.f = open_checked(self.path, self.FORMAT, self.VERSION, self.REQUIRED + (self.DATA,))
        self._owns = True
        try:
            with reading(self.path):
                self._read_index()
        except BaseException:
            self.f.close()
            raise

    @classmethod
    def over(cls, f: h5py.File, path: str | os.PathLike):
        """A reader over a handle the caller owns (a writer's, before its rename); ``close`` keeps it open."""
        obj = cls.__new__(cls)
        obj.path, obj.f, obj._owns = Path(path), f, False
        obj._read_index()
        return obj

    def _read_index(self) -> None:
        self.sequences: list[str] = _decode(self.f["sequences"][()])
        self.offsets: np.ndarray = self.f["seq_offsets"][()].astype(np.int64)
        self._pos = {n: i for i, n in enumerate(self.sequences)}
        shape = self.f[self.DATA].shape
        self._check_shape(shape)
        if int(self.offsets[-1]) != shape[0]:
            raise DataFormatError(f"{self.path}: seq_offsets end at {int(self.offsets[-1])} "
                                  f"but there are {shape[0]} rows")

    def _check_shape(self, shape: tuple) -> None:
        if shape[1:] != (len(IMAGES), 32, 32):
            raise DataFormatError(f"{self.path}: /{self.DATA} has shape {shape}, expected (P, 16, 32, 32)")

    # -- context manager -------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._owns:
            self.f.close()

    # -- metadata --------------------------------------------------------------------
    @property
    def config(self) -> dict:
        """The JSON config recorded when the file was made."""
        try:
            return json.loads(self.f.attrs.get("config", "{}"))
        except ValueError:
            raise DataFormatError(f"{self.path}: the 'config' attribute is not JSON") from None

    @property
    def uid(self) -> str:
        """A unique id stamped at creation; keys caches on this file's content."""
        return str(self.f.attrs.get("uid", ""))

    @property
    def n_rows(self) -> int:
        return int(self.offsets[-1])

    # -- index -----------------------------------------------------------------------
    def __contains__(self, sequence: object) -> bool:
        """Whether the file has rows for ``sequence``."""
        return sequence in self._pos

    def _index(self, sequence: str) -> int:
        try:
            return self._pos[sequence]
        except KeyError:
            raise UsageError(f"{self.path}: no {self.WHAT} {sequence!r}") from None

    def count(self, sequence: str) -> int:
        s = self._index(sequence)
        return int(self.offsets[s + 1] - self.offsets[s])

    def rows(self, sequence: str) -> slice:
        """Row range of a sequence."""
        s = self._index(sequence)
        return slice(int(self.offsets[s]), int(self.offsets[s + 1]))

    def rows_of(self, sequences: Iterable[str]) -> np.ndarray:
        """Row indices (sorted) of every patch of the given sequences."""
        parts = [np.arange(r.start, r.stop) for r in (self.rows(s) for s in sequences)]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


class PatchDataset(IndexedFile):
    """Read access to an hpdesc patch file; lazily reads only the rows asked for."""

    FORMAT, VERSION, DATA = PATCHES_FORMAT, PATCHES_VERSION, "clean"
    REQUIRED = ("sequences", "seq_offsets", "images", "noisy", "splits")

    def _check_shape(self, shape: tuple) -> None:
        super()._check_shape(shape)
        if self.f["noisy"].shape != shape:
            raise DataFormatError(f"{self.path}: /noisy has shape {self.f['noisy'].shape}, /clean {shape}")

    @property
    def splits(self) -> dict[str, dict[str, list[str]]]:
        """All splits: ``{name: {"train": [...], "test": [...]}}``."""
        out = {}
        for name, g in self.f["splits"].items():
            out[name] = {k: _decode(g[k][()]) for k in ("train", "test") if k in g}
        return out

    def split(self, name: str) -> dict[str, list[str]]:
        """One split by name; an unknown name lists the available ones."""
        splits = self.splits
        if name not in splits:
            raise UsageError(f"{self.path}: no split {name!r}; available: {', '.join(sorted(splits)) or 'none'}")
        return splits[name]

    def stored_tasks(self, split: str) -> Tasks | None:
        """The benchmark tasks stored for ``split`` (``/tasks/<split>``), None if the file has none.

        Raises DataFormatError if the file says the split has no tasks, or stores another version.
        """
        return read_group(self.f, split)

    # -- data ------------------------------------------------------------------------
    def array(self, kind: str) -> h5py.Dataset:
        """The raw h5py dataset for ``kind`` ('clean' or 'noisy'); slicing it reads lazily."""
        if kind not in PATCH_KINDS:
            raise UsageError(f"unknown patch kind {kind!r}; use one of {', '.join(PATCH_KINDS)}")
        return _ReadChecked(self.f[kind], self.path)

    def patches(self, sequence: str, image: str | int | None = None, kind: str = "clean") -> np.ndarray:
        """Patches of one sequence: ``(N, 16, 32, 32)``, or ``(N, 32, 32)`` for one image."""
        r = self.rows(sequence)
        arr = self.array(kind)
        if image is None:
            return arr[r]
        j = image if isinstance(image, int) else _image_pos(image)
        return arr[r, j]


class _ReadChecked:
    """An ``h5py.Dataset`` whose reads turn damage in the file into ``cannot read PATH: reason``."""

    def __init__(self, ds: h5py.Dataset, path: Path):
        self._ds, self._path = ds, path

    def __getitem__(self, key):
        with reading(self._path):
            return self._ds[key]

    def read_direct(self, *args, **kwargs):
        with reading(self._path):
            return self._ds.read_direct(*args, **kwargs)

    def __len__(self) -> int:
        return len(self._ds)

    def __getattr__(self, name):  # shape, dtype, chunks, ...
        return getattr(self._ds, name)


def _image_pos(name: str) -> int:
    try:
        return IMAGES.index(name)
    except ValueError:
        raise UsageError(f"unknown image {name!r}; images are {', '.join(IMAGES)}") from None


def default_split(splits, *preferred: str | None) -> str:
    """The one default-split rule: the first of ``preferred`` the dataset defines (a file's or a
    run's split), else its first split by name (``a`` on HPatches); a DataFormatError without splits."""
    from hpdesc.errors import DataFormatError

    for cand in preferred:
        if cand and cand in splits:
            return cand
    if not splits:
        raise DataFormatError("the dataset defines no splits")
    return sorted(splits)[0]


def open_dataset(path: str | os.PathLike) -> PatchDataset:
    """Open an hpdesc patch file (checks format, version and layout)."""
    return PatchDataset(path)
