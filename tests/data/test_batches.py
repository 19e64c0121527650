"""Input pipeline: sequence splits, triplet semantics, determinism, prefetch."""

from __future__ import annotations

import numpy as np
import pytest

from hpdesc.data import batches as B


def test_split_sequences_disjoint_deterministic():
    names = [f"s{i}" for i in range(22)]
    tr, va = B.split_sequences(names, 10.0, seed=0)
    assert not set(tr) & set(va) and sorted(tr + va) == sorted(names) and len(va) == 2
    assert B.split_sequences(list(reversed(names)), 10.0, 0) == (tr, va)
    tr3, va3 = B.split_sequences(names, 3.0, seed=0)
    assert len(va3) == round(22 / 4)
    assert B.split_sequences(names, 3.0, seed=1) != (tr3, va3)
    with pytest.raises(Exception):
        B.split_sequences(["only"], 3.0, 0)


def test_triplet_indices_semantics():
    rng = np.random.default_rng(0)
    rows, ia, ip, neg, inn = B.triplet_indices(50, 16, 32, 20, rng)
    assert rows.shape == (20, 32)
    assert np.all(ia != ip)  # same patch, two different images
    assert np.all(neg != rows)  # a different patch
    assert all(len(set(r)) == len(r) for r in rows)  # distinct rows within a batch
    assert ia.max() < 16 and ip.max() < 16 and inn.max() < 16


def test_triplet_batches_anchor_positive_same_patch():
    # pool value encodes (row, image): anchor and positive must share the row, not the image
    r, m = 40, 4
    pool = np.zeros((r, m, 32, 32), np.uint8)
    for i in range(r):
        for j in range(m):
            pool[i, j, 0, 0] = i
            pool[i, j, 0, 1] = j
    batches = 0
    for a, p, n in B.triplet_batches(pool, 8, 32, np.random.default_rng(1)):
        assert a.shape == (8, 32, 32, 1) and a.dtype == np.float32 and a.max() <= 1.0
        ra, rp, rn = (np.rint(x[:, 0, 0, 0] * 255) for x in (a, p, n))
        ja, jp = (np.rint(x[:, 0, 1, 0] * 255) for x in (a, p))
        assert np.all(ra == rp) and np.all(ja != jp) and np.all(rn != ra)
        batches += 1
    assert batches == 4  # 32 triplets in batches of 8


def test_batches_deterministic_per_epoch():
    pool = np.random.default_rng(0).integers(0, 255, (30, 16, 32, 32), dtype=np.uint8)
    first = list(B.triplet_batches(pool, 4, 8, B.rng_for(3, "descriptor", 2)))
    again = list(B.triplet_batches(pool, 4, 8, B.rng_for(3, "descriptor", 2)))
    other = list(B.triplet_batches(pool, 4, 8, B.rng_for(3, "descriptor", 3)))
    assert len(first) == len(again) == len(other) == 2  # 8 triplets in batches of 4: the checks below see them
    assert all(np.array_equal(x, y) for b1, b2 in zip(first, again) for x, y in zip(b1, b2))
    assert not all(np.array_equal(x, y) for b1, b2 in zip(first, other) for x, y in zip(b1, b2))


def test_choose_pool_budget():
    rows, images = B.choose_pool(100, 4, 200, np.random.default_rng(0))
    assert len(rows) == 50 and images.shape == (50, 4)
    assert all(len(set(r)) == 4 for r in images)
    rows, images = B.choose_pool(10, 4, 0, np.random.default_rng(0))
    assert len(rows) == 10 and images.shape == (10, 16)


def test_load_patches_and_denoiser_batches(tiny_patch_file):
    from hpdesc.data.store import open_dataset

    with open_dataset(tiny_patch_file) as ds:
        seqs = ds.split("default")["train"][:2]
        p = B.load_patches(ds, seqs)
        assert p.n_rows == sum(ds.count(s) for s in seqs)
        assert np.array_equal(p.arrays["clean"][: ds.count(seqs[0])], ds.patches(seqs[0]))
    batches = list(B.denoiser_batches(p, 8, 20, np.random.default_rng(0)))
    assert len(batches) == 3 and batches[0][0].shape == (8, 32, 32, 1)


def test_read_rows_equals_indexing_the_loaded_split(tiny_patch_file):
    from hpdesc.data.store import open_dataset

    with open_dataset(tiny_patch_file) as ds:
        seqs = list(reversed(ds.sequences))  # not the file's order
        full = B.load_patches(ds, seqs)
        rows = np.random.default_rng(1).integers(0, full.n_rows, size=40)  # repeats included
        got = B.read_rows(ds, seqs, rows)
        for k in ("clean", "noisy"):
            assert np.array_equal(got[k], full.arrays[k][rows])
        assert B.read_rows(ds, seqs, np.array([], int))["clean"].shape == (0, 16, 32, 32)
        with pytest.raises(IndexError):
            B.read_rows(ds, seqs, np.array([full.n_rows]))
        # the validation set is the one drawn from the whole loaded split
        x, y = B.denoiser_val(ds, seqs, 16, seed=3)
        rng = B.rng_for(3, "val", 1)
        r, j = rng.integers(0, full.n_rows, size=16), rng.integers(0, 16, size=16)
        assert np.array_equal(x, B.to_float(full.arrays["noisy"][r, j]))
        assert np.array_equal(y, B.to_float(full.arrays["clean"][r, j]))


def test_prefetch_passes_items_and_errors():
    assert list(B.Prefetch(iter(range(10)), 2)) == list(range(10))

    def bad():
        yield 1
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        list(B.Prefetch(bad(), 2))


@pytest.fixture
def tiny_patch_file(tmp_path):
    from hpdesc.data.store import DatasetWriter

    rng = np.random.default_rng(0)
    names = [f"i_s{i}" for i in range(4)]
    path = tmp_path / "tiny.h5"
    with DatasetWriter(path, names, [6] * 4, {"source": "test"}) as w:
        for n in names:
            clean = rng.integers(0, 255, (6, 16, 32, 32), dtype=np.uint8)
            w.put(n, clean, clean)
        w.set_split("default", train=names[:3], test=names[3:])
    return path
