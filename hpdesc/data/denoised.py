"""The denoised-patches file: format ``hpdesc.denoised`` version 1.

Layout::

    /denoised      (P, 16, 32, 32) uint8, the denoiser's output, rows aligned with the index
    /clean         (P, 16, 32, 32) uint8, copied from the input when it has clean patches
    /sequences, /seq_offsets, /images, /seq, /idx   the index (store.write_index), same order
                   as the input dataset for the sequences written
    /splits/<name>/{train,test}   copied from the input dataset
    attrs: format, format_version, created_by, created_at, uid, config (JSON: dataset,
           dataset_uid, run_dir, denoiser, input kind, psnr {noisy, denoised} in dB)

Chunking and compression follow the patch store (one image of a block of rows per chunk,
gzip + shuffle). A reader checks ``format`` and ``format_version`` like every hpdesc file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from hpdesc.data.h5write import atomic_h5
from hpdesc.data.store import _STR, IndexedFile, create_patch_array, write_index, write_root_attrs

DENOISED_FORMAT = "hpdesc.denoised"
DENOISED_VERSION = 1


def write_denoised(path, sequences: Sequence[str], counts: Sequence[int],
                   items: Iterable[tuple[str, np.ndarray, np.ndarray | None]], config: dict,
                   splits: dict | None = None, with_clean: bool = True) -> Path:
    """Write ``(sequence, denoised (N,16,32,32) uint8, clean or None)`` items in order, atomically.

    ``config`` may be updated by the caller while ``items`` is consumed (e.g. PSNR); it is
    stored after the last item.
    """
    sequences = list(sequences)
    offsets = np.concatenate([[0], np.cumsum(np.asarray(counts, dtype=np.int64))])
    with atomic_h5(path) as f:
        write_index(f, sequences, counts)
        den = create_patch_array(f, "denoised", int(offsets[-1]))
        clean = create_patch_array(f, "clean", int(offsets[-1])) if with_clean else None
        g = f.create_group("splits")
        for name, parts in (splits or {}).items():
            sg = g.create_group(name)
            for key, seqs in parts.items():
                sg.create_dataset(key, data=np.array(list(seqs), dtype=object), dtype=_STR)
        pos = {s: i for i, s in enumerate(sequences)}
        for seq, d, c in items:
            i = pos[seq]
            lo, hi = offsets[i], offsets[i + 1]
            den[lo:hi] = d
            if clean is not None and c is not None:
                clean[lo:hi] = c
        write_root_attrs(f, DENOISED_FORMAT, DENOISED_VERSION, config)
    return Path(path)


class DenoisedFile(IndexedFile):
    """Read access to a denoised-patches file."""

    FORMAT, VERSION, DATA = DENOISED_FORMAT, DENOISED_VERSION, "denoised"

    def array(self, kind: str = "denoised"):
        """The raw h5py dataset for ``kind`` (``denoised``, or ``clean`` when stored), read lazily."""
        return self.f[kind]

    def patches(self, sequence: str, kind: str = "denoised") -> np.ndarray:
        """Denoised (or, when stored, clean) patches of one sequence: ``(N, 16, 32, 32)`` uint8."""
        return self.f[kind][self.rows(sequence)]


def open_denoised(path) -> DenoisedFile:
    """Open an ``hpdesc.denoised`` file (checks format and version)."""
    return DenoisedFile(path)
