"""numpy/h5py input pipeline: sequence splits, denoiser pairs, triplets, background prefetch.

Patches are loaded sequence-wise into memory as uint8 (an embedded dataset is a few hundred MB
at most) and converted to float32 in [0, 1], shape ``(B, 32, 32, 1)``, one batch at a time.
Sampling is vectorised numpy indexing with a :class:`numpy.random.Generator` seeded from
``(seed, stage, epoch)``, so an epoch's batches are the same whether or not the run was resumed.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
from hpdesc.pixels import quantise

from hpdesc.errors import UsageError

N_IMAGES = 16
STAGE_IDS = {"denoiser": 1, "descriptor": 2, "pool": 3, "val": 4, "split": 5}


def rng_for(seed: int, stage: str, epoch: int = 0) -> np.random.Generator:
    """The Generator of one stage and epoch (independent streams, reproducible on resume)."""
    return np.random.default_rng([int(seed), STAGE_IDS[stage], int(epoch)])


def to_float(patches: np.ndarray) -> np.ndarray:
    """uint8 ``(..., 32, 32)`` -> float32 ``(N, 32, 32, 1)`` in [0, 1]."""
    arr = np.asarray(patches)
    arr = arr.reshape((-1,) + arr.shape[-2:])
    return (arr.astype(np.float32) * np.float32(1.0 / 255.0))[..., None]


def to_uint8(patches: np.ndarray) -> np.ndarray:
    """float ``(N, 32, 32, 1)`` in [0, 1] -> uint8 ``(N, 32, 32)`` (clipped, rounded)."""
    arr = np.asarray(patches, dtype=np.float32)
    if arr.ndim == 4:
        arr = arr[..., 0]
    return quantise(arr)


def split_sequences(sequences: Sequence[str], ratio: float, seed: int) -> tuple[list[str], list[str]]:
    """Split training sequences by ``ratio`` (train:val = ratio:1), by sequence, deterministically.

    At least one sequence goes to validation when there are two or more; the order of the input
    does not matter (names are sorted first).
    """
    names = sorted(set(sequences))
    if len(names) < 2:
        raise UsageError(f"need at least 2 training sequences to hold some out for validation, got {len(names)}")
    n_val = int(round(len(names) / (ratio + 1.0)))
    n_val = min(max(n_val, 1), len(names) - 1)
    order = np.random.default_rng([int(seed), STAGE_IDS["split"], int(ratio * 1000)]).permutation(len(names))
    val = sorted(names[i] for i in order[:n_val])
    train = sorted(names[i] for i in order[n_val:])
    return train, val


@dataclass
class Patches:
    """Rows of one or more sequences in memory.

    ``arrays[kind]``: ``(R, M, 32, 32)`` uint8 (M images per row, 16 for whole rows);
    ``seq``: ``(R,)`` int sequence ids (positions in ``sequences``).
    """

    arrays: dict
    seq: np.ndarray
    sequences: list

    @property
    def n_rows(self) -> int:
        return int(self.seq.shape[0])

    @property
    def n_images(self) -> int:
        return int(next(iter(self.arrays.values())).shape[1])


def load_patches(ds, sequences: Sequence[str], kinds: Sequence[str] = ("clean", "noisy"),
                 max_bytes: int = 4 << 30) -> Patches:
    """Read all rows of ``sequences`` (sequence-wise contiguous reads) into memory."""
    sequences = list(sequences)
    if not sequences:
        raise UsageError("no sequences to load")
    n = count_rows(ds, sequences)
    need = n * N_IMAGES * 32 * 32 * len(kinds)
    if need > max_bytes:
        raise UsageError(f"{ds.path}: the training rows need {need / 2**30:.1f} GiB in memory "
                         f"(limit {max_bytes / 2**30:.1f} GiB); use a smaller split")
    arrays = {k: np.empty((n, N_IMAGES, 32, 32), np.uint8) for k in kinds}
    seq = np.empty(n, np.int32)
    at = 0
    for i, s in enumerate(sequences):
        r = ds.rows(s)
        m = r.stop - r.start
        for k in kinds:
            ds.array(k).read_direct(arrays[k], np.s_[r.start:r.stop], np.s_[at:at + m])
        seq[at:at + m] = i
        at += m
    return Patches(arrays, seq, sequences)


def count_rows(ds, sequences: Sequence[str]) -> int:
    """Rows (patches) of ``sequences`` together."""
    return int(sum(ds.count(s) for s in sequences))


def read_rows(ds, sequences: Sequence[str], rows: np.ndarray, kinds: Sequence[str] = ("clean", "noisy")) -> dict:
    """``load_patches(ds, sequences).arrays[k][rows]`` for each kind, reading only those rows.

    ``rows`` index the rows of ``sequences`` in the given order (repeats allowed). For samples of a
    large split (validation sets, the descriptor's pool) this reads a few MiB instead of the split.
    """
    sequences = list(sequences)
    rows = np.asarray(rows, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([ds.count(s) for s in sequences])]).astype(np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= offsets[-1]):
        raise IndexError(f"row index out of range for {offsets[-1]} rows")
    unique, inverse = np.unique(rows, return_inverse=True)
    which = np.searchsorted(offsets, unique, side="right") - 1
    starts = np.array([ds.rows(s).start for s in sequences], dtype=np.int64)
    file_rows = starts[which] + (unique - offsets[which]) if unique.size else unique
    order = np.argsort(file_rows)  # h5py reads increasing indices
    out = {}
    for k in kinds:
        got = np.empty((unique.size, N_IMAGES, 32, 32), np.uint8)
        if unique.size:
            got[order] = ds.array(k)[file_rows[order]]
        out[k] = got[inverse.reshape(-1)]
    return out


# -- denoiser pairs ------------------------------------------------------------------------------
def denoiser_batches(p: Patches, batch_size: int, n_samples: int,
                     rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(noisy, clean)`` float32 batches of uniformly drawn (row, image) patches."""
    steps = max(1, -(-n_samples // batch_size))
    rows = rng.integers(0, p.n_rows, size=(steps, batch_size))
    imgs = rng.integers(0, p.n_images, size=(steps, batch_size))
    noisy, clean = p.arrays["noisy"], p.arrays["clean"]
    for r, j in zip(rows, imgs):
        yield to_float(noisy[r, j]), to_float(clean[r, j])


def denoiser_val(ds, sequences: Sequence[str], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed validation set of ``n`` (noisy, clean) pairs of ``sequences`` (only those rows are read)."""
    rng = rng_for(seed, "val", 1)
    r = rng.integers(0, count_rows(ds, sequences), size=n)
    j = rng.integers(0, N_IMAGES, size=n)
    a = read_rows(ds, sequences, r, ("noisy", "clean"))
    k = np.arange(n)
    return to_float(a["noisy"][k, j]), to_float(a["clean"][k, j])


# -- triplets ---------------------------------------------------------------------------------------
def triplet_indices(n_rows: int, n_images: int, batch_size: int, steps: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Index arrays ``(rows, img_a, img_p, neg_rows, img_n)``, each ``(steps, batch_size)``.

    Anchor and positive are the same row (same sequence, same patch index) in two different
    images; the negative is a different row. Rows are distinct within a batch when there are
    enough rows (so in-batch negatives, as in HardNet, are true non-matches).
    """
    if n_rows < 2:
        raise UsageError("need at least 2 patches to sample triplets")
    if n_images < 2:
        raise UsageError("need at least 2 images per patch to sample triplets")
    if n_rows >= batch_size:
        # consecutive slices of random permutations; a batch never straddles two permutations
        rows = np.empty((steps, batch_size), np.int64)
        perm, at = rng.permutation(n_rows), 0
        for s in range(steps):
            if at + batch_size > n_rows:
                perm, at = rng.permutation(n_rows), 0
            rows[s] = perm[at:at + batch_size]
            at += batch_size
    else:
        rows = rng.integers(0, n_rows, size=(steps, batch_size))
    img_a = rng.integers(0, n_images, size=(steps, batch_size))
    img_p = (img_a + rng.integers(1, n_images, size=(steps, batch_size))) % n_images
    neg = (rows + rng.integers(1, n_rows, size=(steps, batch_size))) % n_rows
    img_n = rng.integers(0, n_images, size=(steps, batch_size))
    return rows, img_a, img_p, neg, img_n


def dihedral(patches: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Apply one of the 8 flips / 90-degree rotations to each patch of ``(N, H, W)``.

    ``ids[i]`` in 0..7: ``k = ids % 4`` quarter turns, then a left-right flip if ``ids >= 4``.
    """
    out = np.empty_like(patches)
    for t in range(8):
        sel = np.flatnonzero(ids == t)
        if not len(sel):
            continue
        x = np.rot90(patches[sel], t % 4, axes=(1, 2))
        out[sel] = x[:, :, ::-1] if t >= 4 else x
    return out


def triplet_batches(pool: np.ndarray, batch_size: int, n_triplets: int, rng: np.random.Generator,
                    with_negatives: bool = True, augment: bool = False) -> Iterator[tuple[np.ndarray, ...]]:
    """``(anchor, positive[, negative])`` float32 batches from a ``(R, M, 32, 32)`` uint8 pool.

    ``augment``: every row gets a random flip / 90-degree rotation, the *same* for its anchor and
    positive (a matching pair stays a matching pair; the pool just holds 8x as many patch
    "classes"); a negative gets its own.
    """
    steps = max(1, -(-n_triplets // batch_size))
    rows, ia, ip, neg, inn = triplet_indices(pool.shape[0], pool.shape[1], batch_size, steps, rng)
    if augment:
        t_ap = rng.integers(0, 8, size=(steps, batch_size))
        t_n = rng.integers(0, 8, size=(steps, batch_size))
    for s in range(steps):
        a, p = pool[rows[s], ia[s]], pool[rows[s], ip[s]]
        if augment:
            a, p = dihedral(a, t_ap[s]), dihedral(p, t_ap[s])
        if with_negatives:
            n = pool[neg[s], inn[s]]
            yield to_float(a), to_float(p), to_float(dihedral(n, t_n[s]) if augment else n)
        else:
            yield to_float(a), to_float(p)


def triplet_val(pool: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed validation set of ``n`` triplets."""
    rows, ia, ip, neg, inn = triplet_indices(pool.shape[0], pool.shape[1], n, 1, rng_for(seed, "val", 2))
    return (to_float(pool[rows[0], ia[0]]), to_float(pool[rows[0], ip[0]]), to_float(pool[neg[0], inn[0]]))


def choose_pool(n_rows: int, images_per_row: int, budget: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows and, per row, which images to keep so that ``rows * images <= budget`` patch images.

    Returns ``(rows (R,), images (R, M))``; ``budget <= 0`` keeps every row and all 16 images.
    """
    if budget <= 0 or budget >= n_rows * N_IMAGES:
        return np.arange(n_rows), np.tile(np.arange(N_IMAGES), (n_rows, 1))
    m = int(min(max(images_per_row, 2), N_IMAGES))
    r = int(min(n_rows, max(2, budget // m)))
    rows = np.sort(rng.choice(n_rows, size=r, replace=False))
    images = np.sort(np.argsort(rng.random((r, N_IMAGES)), axis=1)[:, :m], axis=1)
    return rows, images


def gather_pool(arr: np.ndarray, rows: np.ndarray, images: np.ndarray) -> np.ndarray:
    """``arr[rows][:, images-per-row]`` -> ``(R, M, 32, 32)``."""
    return arr[rows[:, None], images]


# -- prefetch -------------------------------------------------------------------------------------------
class Prefetch:
    """Iterate ``source`` in a background thread, ``depth`` items ahead (numpy releases the GIL).

    Exceptions in the producer are re-raised in the consumer; ``close()`` stops the producer.
    """

    _END = object()

    def __init__(self, source: Iterator, depth: int = 4):
        self.depth = depth
        self._source = source
        if depth <= 0:
            self._thread = None
            return
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="hpdesc-prefetch")
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._put(("__error__", exc))

    def __iter__(self):
        if self._thread is None:
            yield from self._source
            return
        try:
            while True:
                item = self._q.get()
                if item is self._END:
                    return
                if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and item[0] == "__error__":
                    raise item[1]
                yield item
        finally:
            self.close()

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
