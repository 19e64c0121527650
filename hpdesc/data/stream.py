"""Training batches streamed from an HDF5 patch file, for datasets larger than memory.

The in-memory pipeline (:mod:`hpdesc.data.batches`) loads a split's patches once, which is
right for the embedded dataset. :class:`BatchStream` instead reads a few blocks of rows at a
time (blocks follow the file's chunking, so each read decompresses whole chunks once), shuffles
within that window, and yields batches: memory is bounded by ``window_blocks * block_rows``
rows, whatever the dataset's size.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from hpdesc.data.batches import N_IMAGES, rng_for, to_float
from hpdesc.data.store import CHUNK_ROWS, PatchDataset


class BatchStream:
    """Shuffled batches from ``sequences`` of ``ds``, read block by block.

    Shape: every array yielded is float32 ``(B, 32, 32, 1)`` in [0, 1]. Each epoch visits the
    row blocks in a new random order (reproducible from ``seed`` and the epoch number).
    """

    def __init__(self, ds: PatchDataset, sequences: Sequence[str], batch_size: int, seed: int = 0,
                 block_rows: int = CHUNK_ROWS, window_blocks: int = 8):
        if batch_size < 1 or block_rows < 1 or window_blocks < 1:
            raise ValueError("batch_size, block_rows and window_blocks must be positive")
        self.ds = ds
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.window_blocks = int(window_blocks)
        self.blocks: list[tuple[int, int]] = []  # (start, stop) rows, never across sequences
        for seq in sequences:
            r = ds.rows(seq)
            self.blocks += [(lo, min(lo + block_rows, r.stop)) for lo in range(r.start, r.stop, block_rows)]
        self.max_rows_held = 0  # the largest window read so far (memory bound, for tests/diagnostics)

    def _windows(self, stage: str, epoch: int, kinds: Sequence[str]) -> Iterator[tuple[np.random.Generator, list]]:
        rng = rng_for(self.seed, stage, epoch)
        order = rng.permutation(len(self.blocks))
        for w in range(0, len(order), self.window_blocks):
            picked = sorted(self.blocks[i] for i in order[w:w + self.window_blocks])
            arrays = [np.concatenate([self.ds.array(k)[lo:hi] for lo, hi in picked]) for k in kinds]
            self.max_rows_held = max(self.max_rows_held, len(arrays[0]))
            yield rng, arrays

    def denoiser_batches(self, epoch: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(noisy, clean)`` batches: every (row, image) patch once per epoch."""
        carry = None
        for rng, (noisy, clean) in self._windows("denoiser", epoch, ("noisy", "clean")):
            flat_n, flat_c = noisy.reshape(-1, 32, 32), clean.reshape(-1, 32, 32)
            idx = rng.permutation(len(flat_n))
            x, y = flat_n[idx], flat_c[idx]
            if carry is not None:  # the remainder of the last window starts this one
                x, y = np.concatenate([carry[0], x]), np.concatenate([carry[1], y])
            n_full = len(x) // self.batch_size * self.batch_size
            for lo in range(0, n_full, self.batch_size):
                yield to_float(x[lo:lo + self.batch_size]), to_float(y[lo:lo + self.batch_size])
            carry = (x[n_full:], y[n_full:])
        if carry is not None and len(carry[0]):
            yield to_float(carry[0]), to_float(carry[1])

    def triplet_batches(self, epoch: int = 0, kind: str = "noisy") -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(anchor, positive, negative)`` batches: anchor and positive are the same row in two
        different images; the negative is another row of the window, in a random image."""
        for rng, (arr,) in self._windows("descriptor", epoch, (kind,)):
            n = len(arr)
            if n < 2:
                continue
            rows = rng.permutation(n)
            ia = rng.integers(0, N_IMAGES, n)
            ip = (ia + rng.integers(1, N_IMAGES, n)) % N_IMAGES  # always a different image
            neg = (rows + rng.integers(1, n, n)) % n  # always a different row
            ineg = rng.integers(0, N_IMAGES, n)
            for lo in range(0, n, self.batch_size):
                s = slice(lo, lo + self.batch_size)
                yield (to_float(arr[rows[s], ia[s]]), to_float(arr[rows[s], ip[s]]),
                       to_float(arr[neg[s], ineg[s]]))
