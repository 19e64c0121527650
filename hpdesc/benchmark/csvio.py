"""Descriptor CSV interop with hpatches-benchmark: ``<root>/<name>/<sequence>/<image>.csv``.

One CSV per sequence and image (``ref.csv``, ``e1.csv`` ... ``t5.csv``), one row per patch in
patch order, one column per descriptor dimension, no header. Import detects the delimiter
(comma, semicolon or whitespace) and checks every file's row count against the dataset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from hpdesc.atomic import atomic_path
from hpdesc.data.descfile import DescriptorWriter, open_descriptors
from hpdesc.data.images import IMAGES
from hpdesc.data.store import open_dataset
from hpdesc.errors import DataFormatError, UsageError


def export_csv(descriptors, out_dir, name: str | None = None, sequences: Sequence[str] | None = None,
               tick: Callable[[], None] | None = None) -> Path:
    """Write a descriptor file as hpatches-benchmark CSVs; returns ``<out_dir>/<name>``."""
    with open_descriptors(descriptors) as desc:
        name = name or desc.name
        root = Path(out_dir) / name
        seqs = list(sequences) if sequences else desc.sequences
        for seq in seqs:
            x = desc.get(seq)
            for j, img in enumerate(IMAGES):
                p = root / seq / f"{img}.csv"
                with atomic_path(p) as tmp:  # makes the folders; an unwritable one is a clear error
                    np.savetxt(tmp, x[:, j], delimiter=",", fmt="%.9g")  # %.9g round-trips float32
            if tick:
                tick()
    return root


def detect_delimiter(line: str) -> str | None:
    """',' or ';' if the line has one, else None (whitespace)."""
    if "," in line:
        return ","
    if ";" in line:
        return ";"
    return None


def read_descriptor_csv(path: Path) -> np.ndarray:
    """One CSV of descriptors ``(N, D)`` float32 (delimiter detected from the first line)."""
    text = path.read_text()
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    delim = detect_delimiter(first)
    try:
        arr = np.loadtxt(path, delimiter=delim, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise DataFormatError(f"{path}: not a numeric descriptor CSV ({msg})") from None
    if not np.all(np.isfinite(arr)):
        raise DataFormatError(f"{path}: contains NaN or infinite values")
    return arr.astype(np.float32)


def import_csv(src_dir, dataset, out_path, name: str | None = None, sequences: Sequence[str] | None = None,
               tick: Callable[[], None] | None = None) -> Path:
    """Read ``<src_dir>/<sequence>/<image>.csv`` into a descriptor file aligned with ``dataset``.

    ``src_dir`` is the folder holding the sequence folders (hpatches-benchmark's
    ``descriptors/<name>``). Without ``sequences``, every sequence folder that the dataset knows is
    imported (at least one). Row counts must equal the dataset's patch counts.
    """
    src = Path(src_dir)
    if not src.is_dir():
        raise UsageError(f"{src}: no such directory")
    from hpdesc.atomic import refuse_inputs

    refuse_inputs([out_path], [dataset, src])
    with open_dataset(dataset) as ds:
        if sequences:
            seqs = list(sequences)
            for s in seqs:
                if s not in ds.sequences:
                    raise UsageError(f"sequence {s!r} is not in {ds.path}")
        else:
            folders = {p.name for p in src.iterdir() if p.is_dir()}
            seqs = [s for s in ds.sequences if s in folders]
            if not seqs:
                raise DataFormatError(f"{src}: no sequence folders matching {ds.path} "
                                      f"(expected e.g. {src / ds.sequences[0] / 'ref.csv'})")
        counts = [ds.count(s) for s in seqs]
        dim = None
        first = src / seqs[0] / "ref.csv"
        if not first.exists():
            raise DataFormatError(f"{first}: missing (need {', '.join(IMAGES)}.csv per sequence)")
        dim = read_descriptor_csv(first).shape[1]
        config = {"dataset": str(Path(ds.path).resolve()), "dataset_uid": ds.uid,
                  "descriptor": name or src.name, "run_dir": None, "source": f"csv:{src.resolve()}"}

        def arrays():
            for seq, n in zip(seqs, counts):
                out = np.empty((n, len(IMAGES), dim), np.float32)
                for j, img in enumerate(IMAGES):
                    p = src / seq / f"{img}.csv"
                    if not p.exists():
                        raise DataFormatError(f"{p}: missing (sequence {seq}, image {img})")
                    a = read_descriptor_csv(p)
                    if a.shape[0] != n:
                        raise DataFormatError(f"{p}: {a.shape[0]} rows but sequence {seq} has {n} patches "
                                              f"(image {img})")
                    if a.shape[1] != dim:
                        raise DataFormatError(f"{p}: {a.shape[1]} columns, expected {dim} (as in {first})")
                    out[:, j] = a
                if tick:
                    tick()
                yield seq, out

        with DescriptorWriter(out_path, seqs, counts, dim, config) as w:
            for seq, arr in arrays():
                w.put(seq, arr)
    return Path(out_path)
