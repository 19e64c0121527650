"""The descriptor file: format ``hpdesc.descriptors`` version 1 (docs/formats.md, docs/benchmark.md).

Layout::

    /descriptors   (P, 16, D) float32, rows aligned with /sequences and /seq_offsets
    /sequences, /seq_offsets, /images, /seq, /idx   the index (store.write_index)
    attrs: format, format_version, created_by, created_at, uid, config (JSON: dataset, dataset_uid,
           descriptor, input, run, run_dir, from_run, ...), fingerprint (sha256 of the float32 bytes,
           row order)

``config["descriptor"]`` names the components (``dncnn+hardnet``, ``sift``), ``run`` the run that
made them, ``input`` the patches the descriptor saw (noisy, clean or denoised); together they
make the file's label (:func:`descriptor_label`).

The sequences may be a subset of the dataset's (e.g. only one split's test sequences); patch
``k`` of sequence ``s`` in image ``j`` is ``descriptors[offset[s] + k, j]``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import h5py
import numpy as np

from hpdesc.atomic import reading
from hpdesc.data.images import IMAGES
from hpdesc.data.store import IndexedFile, write_index, write_root_attrs
from hpdesc.data.h5write import AtomicH5Writer
from hpdesc.errors import DataFormatError, UsageError

DESCRIPTORS_FORMAT = "hpdesc.descriptors"
DESCRIPTORS_VERSION = 1
_FP_CHUNK_ROWS = 4096
_LOAD_SLAB_BYTES = 32 << 20  # rows read per HDF5 call in DescriptorSet.load


def _chunk_rows(dim: int) -> int:
    # about 256 KiB per chunk along the sample axis
    return max(1, min(4096, (256 * 1024) // (len(IMAGES) * max(dim, 1) * 4)))


class DescriptorWriter(AtomicH5Writer):
    """Stream descriptors into a new file atomically; fingerprint computed while writing.

    Usage::

        with DescriptorWriter(path, sequences, counts, dim, config) as w:
            for seq in sequences:
                w.put(seq, array)          # (N, 16, D) float32
    """

    def __init__(self, path, sequences: Sequence[str], counts: Sequence[int], dim: int, config: dict):
        self.path = Path(path)
        self.sequences = list(sequences)
        self.counts = [int(c) for c in counts]
        self.dim = int(dim)
        self.config = dict(config)
        self._offsets = np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64)
        self._next = 0  # sequences must be put in order so the fingerprint is a stream hash

    def __enter__(self) -> "DescriptorWriter":
        if len(set(self.sequences)) != len(self.sequences):
            raise UsageError("duplicate sequence names in descriptor set")
        return super().__enter__()

    def _create(self, f: h5py.File) -> None:
        write_root_attrs(f, DESCRIPTORS_FORMAT, DESCRIPTORS_VERSION, self.config)
        write_index(f, self.sequences, self.counts)
        total = int(self._offsets[-1])
        self.ds = f.create_dataset(
            "descriptors", shape=(total, len(IMAGES), self.dim), dtype="float32",
            chunks=(max(1, min(_chunk_rows(self.dim), total)), len(IMAGES), self.dim) if total else None)
        self._sha = hashlib.sha256()

    def put(self, sequence: str, array: np.ndarray) -> None:
        """Store the ``(N, 16, D)`` descriptors of the next sequence (in the declared order)."""
        if self._next >= len(self.sequences) or self.sequences[self._next] != sequence:
            want = self.sequences[self._next] if self._next < len(self.sequences) else "nothing more"
            raise UsageError(f"descriptors put out of order: got {sequence!r}, expected {want!r}")
        lo, hi = self._offsets[self._next], self._offsets[self._next + 1]
        arr = np.ascontiguousarray(np.asarray(array, dtype=np.float32))
        if arr.shape != (hi - lo, len(IMAGES), self.dim):
            raise UsageError(f"{sequence}: descriptors have shape {arr.shape}, expected {(int(hi - lo), len(IMAGES), self.dim)}")
        if not np.all(np.isfinite(arr)):
            raise DataFormatError(f"{sequence}: descriptors contain NaN or infinite values")
        self.ds[lo:hi] = arr
        self._sha.update(arr.tobytes())
        self._next += 1

    def _finish(self, f: h5py.File) -> None:
        if self._next != len(self.sequences):
            raise UsageError(f"descriptors never written for {self.sequences[self._next]!r}")
        f.attrs["fingerprint"] = self._sha.hexdigest()
        f.attrs["dim"] = self.dim


def components(denoiser: str | None, descriptor: str) -> str:
    """The short name of a pipeline: ``dncnn+hardnet``, or ``sift`` when no denoiser ran."""
    return f"{denoiser}+{descriptor}" if denoiser else str(descriptor)


def descriptor_label(config: Mapping, path=None) -> str:
    """A readable label of a descriptor file from its ``config``: components, run, input.

    ``dncnn+hardnet (run 20260101-120000-dncnn-hardnet)``; ``identity+hardnet (hardnet from run R)``
    when some components were not the run's; ``sift (clean input)`` for clean patches. A file
    recording no name is called by its stem (``path``). The one place labels are made, so the
    benchmark's tables, JSON, Markdown and plots all say the same.
    """
    name = str(config.get("descriptor") or (Path(path).stem if path is not None else "descriptors"))
    details = []
    run = config.get("run") or (Path(config["run_dir"]).name if config.get("run_dir") else None)
    if run:
        mine = config.get("from_run")
        parts = [p for p in name.split("+") if p]
        if mine is None or sorted(mine) == sorted(parts):  # files made before "from_run": all the run's
            details.append(f"run {run}")
        elif mine:
            details.append(f"{'+'.join(mine)} from run {run}")
    if config.get("input") == "clean":
        details.append("clean input")
    return f"{name} ({', '.join(details)})" if details else name


def write_descriptors(path, sequences: Sequence[str], arrays: Mapping[str, np.ndarray] | Iterable, config: dict,
                      counts: Sequence[int] | None = None, dim: int | None = None) -> Path:
    """Write a descriptor file atomically (temporary file + rename).

    ``arrays``: ``{sequence: (N, 16, D)}`` (any mapping), or an iterable of ``(sequence, array)``
    in ``sequences`` order for streaming (then ``counts`` and ``dim`` are required).
    ``config`` should carry ``dataset``, ``dataset_uid``, ``descriptor`` and ``run_dir``.
    """
    sequences = list(sequences)
    if isinstance(arrays, Mapping):
        missing = [s for s in sequences if s not in arrays]
        if missing:
            raise UsageError(f"no descriptors given for sequence(s) {', '.join(missing[:5])}")
        counts = [int(np.shape(arrays[s])[0]) for s in sequences]
        dims = {int(np.shape(arrays[s])[-1]) for s in sequences}
        if len(dims) > 1:
            raise UsageError(f"descriptor dimensions differ between sequences: {sorted(dims)}")
        dim = dims.pop() if dims else int(dim or 0)
        items = ((s, arrays[s]) for s in sequences)
    else:
        if counts is None or dim is None:
            raise UsageError("streaming write_descriptors needs counts= and dim=")
        items = iter(arrays)
    with DescriptorWriter(path, sequences, counts, dim, config) as w:
        for seq, arr in items:
            w.put(seq, arr)
    return Path(path)


def refuse_non_finite(values: np.ndarray, path, what: str = "descriptors") -> None:
    """A DataFormatError counting the descriptors (last axis = one descriptor) with a NaN or an
    infinity: scoring them gives believable but meaningless numbers."""
    if values.size == 0 or np.isfinite(values).all():
        return
    flat = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values.reshape(-1, 1)
    bad = int((~np.isfinite(flat)).any(axis=1).sum())
    raise DataFormatError(f"{path}: {bad} of {flat.shape[0]} {what} contain NaN or infinite values; "
                          "they cannot be scored", hint="re-create the file; a model that outputs NaN is broken")


class DescriptorSet(IndexedFile):
    """Read access to a descriptor file (lazy; ``get`` reads one sequence)."""

    FORMAT, VERSION, DATA = DESCRIPTORS_FORMAT, DESCRIPTORS_VERSION, "descriptors"
    WHAT = "descriptors for sequence"

    def _check_shape(self, shape: tuple) -> None:
        if len(shape) != 3 or shape[1] != len(IMAGES):
            raise DataFormatError(f"{self.path}: /descriptors has shape {shape}, expected (P, 16, D)")
        if shape[2] == 0:
            raise DataFormatError(f"{self.path}: /descriptors has 0 columns (shape {shape}): no descriptor values",
                                  hint="re-create the file with a descriptor of dimension 1 or more")

    @property
    def dim(self) -> int:
        return int(self.f["descriptors"].shape[2])

    @property
    def name(self) -> str:
        """The components (``dncnn+hardnet``), short enough for a folder name (export-csv)."""
        return str(self.config.get("descriptor") or self.path.stem)

    @property
    def label(self) -> str:
        """What reports call this file: components, run and input (:func:`descriptor_label`)."""
        return descriptor_label(self.config, self.path)

    @property
    def fingerprint(self) -> str:
        """sha256 of the float32 descriptor bytes (cached at write time; recomputed if absent)."""
        fp = self.f.attrs.get("fingerprint")
        if fp:
            return fp.decode() if isinstance(fp, bytes) else str(fp)
        sha = hashlib.sha256()
        ds = self.f["descriptors"]
        for lo in range(0, ds.shape[0], _FP_CHUNK_ROWS):
            sha.update(np.ascontiguousarray(ds[lo:lo + _FP_CHUNK_ROWS], dtype=np.float32).tobytes())
        return sha.hexdigest()

    _held: tuple[np.ndarray, dict[str, int]] | None = None

    def hold(self, sequences: Sequence[str]) -> None:
        """Read these sequences' descriptors once and serve ``get`` / ``load`` from memory until ``release``.

        The benchmark's three tasks each read the test sequences; holding them turns three reads
        of the file into one. Arrays served from the held copy are read-only views.
        """
        arr, starts = self.load(list(dict.fromkeys(sequences)))
        arr.flags.writeable = False
        self._held = (arr, starts)

    @property
    def held(self) -> list[str]:
        """The sequences :meth:`hold` keeps in memory (empty: none)."""
        return list(self._held[1]) if self._held is not None else []

    def release(self) -> None:
        """Drop the copy kept by :meth:`hold` (later reads go to the file again)."""
        self._held = None

    def close(self) -> None:
        self.release()
        super().close()

    def _held_rows(self, sequence: str) -> np.ndarray | None:
        if self._held is None or sequence not in self._held[1]:
            return None
        lo = self._held[1][sequence]
        return self._held[0][lo:lo + self.count(sequence)]

    def get(self, sequence: str) -> np.ndarray:
        """Descriptors of one sequence. Shape: ``(N, 16, D)`` float32."""
        held = self._held_rows(sequence)
        if held is not None:
            return held
        with reading(self.path):
            x = self.f["descriptors"][self.rows(sequence)]
        refuse_non_finite(x, self.path)
        return x

    def load(self, sequences: Sequence[str], images: Sequence[int] | None = None) -> tuple[np.ndarray, dict[str, int]]:
        """Concatenated descriptors of ``sequences`` (optionally only some image columns).

        Returns ``(array (R, n_images, D) float32, {sequence: first row})``. The output is allocated
        once and filled in slabs (consecutive sequences of the file are read as one range), so a
        bulk read costs about one copy of the data. While :meth:`hold` keeps them, they come from
        memory (the held array itself when ``sequences`` is what is held, in the same order).
        """
        held = self._held
        if held is not None and all(s in held[1] for s in sequences):
            order = list(held[1])
            if images is None and list(sequences) == order[:len(sequences)]:  # a prefix of what is held: a view
                n = sum(self.count(s) for s in sequences)
                return held[0][:n], {s: held[1][s] for s in sequences}
            parts = [self._held_rows(s) for s in sequences]
            starts = dict(zip(sequences, np.cumsum([0] + [len(x) for x in parts[:-1]]).tolist()))
            cols = slice(None) if images is None else list(images)
            if not parts:
                return np.empty((0, len(IMAGES) if images is None else len(cols), self.dim), np.float32), starts
            return np.concatenate([x[:, cols] for x in parts]), starts
        ds = self.f["descriptors"]
        n_img = len(IMAGES) if images is None else len(images)
        cols = None if images is None else list(images)
        ranges = [self.rows(s) for s in sequences]
        starts, at = {}, 0
        for s, r in zip(sequences, ranges):
            starts[s] = at
            at += r.stop - r.start
        out = np.empty((at, n_img, self.dim), np.float32)
        # merge runs of sequences stored back to back in the file
        runs: list[list[int]] = []  # [file start, file stop, out start]
        at = 0
        for r in ranges:
            if runs and runs[-1][1] == r.start:
                runs[-1][1] = r.stop
            else:
                runs.append([r.start, r.stop, at])
            at += r.stop - r.start
        slab = max(1, _LOAD_SLAB_BYTES // max(1, len(IMAGES) * self.dim * 4))
        with reading(self.path):  # random bytes in the file: "cannot read PATH", not h5py's message
            for lo, hi, dst in runs:
                for a in range(lo, hi, slab):
                    b = min(hi, a + slab)
                    o = dst + a - lo
                    if b <= a:
                        continue
                    if cols is None:
                        ds.read_direct(out, np.s_[a:b], np.s_[o:o + b - a])
                    else:
                        out[o:o + b - a] = ds[a:b][:, cols]
        refuse_non_finite(out, self.path)  # before any score is computed from them
        return out, starts


def open_descriptors(path: str | os.PathLike) -> DescriptorSet:
    """Open an hpdesc descriptor file (checks format name, version and layout)."""
    return DescriptorSet(path)
