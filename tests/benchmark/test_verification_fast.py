"""The merge-based verification ranking and the bulk-read pair distances against the reference."""

import sys
from pathlib import Path

import numpy as np
import pytest

from hpdesc.benchmark import distances as D
from hpdesc.benchmark import verification as E
from hpdesc.benchmark.metrics import merged_positive_ranks, roc_auc, roc_auc_sorted
from hpdesc.benchmark.tasks import generate_verification
from hpdesc.data.descfile import open_descriptors, write_descriptors
from hpdesc.data.tasks import Tasks, verification_rows

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import reference_eval as R  # noqa: E402


def _stable_ranks(neg, pos):
    lab = np.concatenate([np.zeros(neg.size, bool), np.ones(pos.size, bool)])
    order = np.argsort(np.concatenate([neg, pos]), kind="stable")
    return np.nonzero(lab[order])[0] + 1


@pytest.mark.parametrize("seed", range(6))
def test_merged_ranks_equal_stable_argsort_with_ties(seed):
    rng = np.random.default_rng(seed)
    levels = int(rng.integers(1, 12))  # few distinct values: many ties, within and across labels
    neg = rng.integers(0, levels, int(rng.integers(0, 300))).astype(np.float64)
    pos = rng.integers(0, levels, int(rng.integers(0, 300))).astype(np.float64)
    ranks = merged_positive_ranks(np.sort(neg), np.sort(pos))
    np.testing.assert_array_equal(ranks, _stable_ranks(neg, pos))
    lab = np.concatenate([np.zeros(neg.size), np.ones(pos.size)])
    if neg.size and pos.size:
        assert roc_auc_sorted(np.sort(neg), np.sort(pos)) == roc_auc(-np.concatenate([neg, pos]), lab)


@pytest.mark.parametrize("protocol", ["python", "paper"])
def test_verification_scores_equal_reference_with_ties(protocol):
    rng = np.random.default_rng(7)
    for _ in range(20):
        neg = rng.integers(0, 6, int(rng.integers(1, 200))) * 0.25
        pos = rng.integers(0, 6, int(rng.integers(1, 200))) * 0.25
        r = E.verification_scores(neg, pos, protocol)
        dd = np.hstack((neg, pos))
        lab = np.hstack((np.zeros(neg.size), np.ones(pos.size)))
        cut = neg.size + int(pos.size * 0.2)
        ap_fn = R.pr_ap if protocol == "python" else R.paper_ap
        assert r["auc"] == pytest.approx(R.roc_auc(-dd, lab), abs=1e-12)
        ref_ap = ap_fn(-dd[:cut], lab[:cut]) if cut > neg.size else 0.0
        assert r["ap"] == pytest.approx(ref_ap, abs=1e-12)


def _quantised_set(tmp_path, seed=0):
    """Descriptors on a coarse grid with duplicated patches: many exactly equal distances."""
    rng = np.random.default_rng(seed)
    names = [f"i_s{k}" for k in range(3)] + [f"v_s{k}" for k in range(3)]
    counts = rng.integers(20, 40, len(names))
    arrays = {}
    for s, n in zip(names, counts):
        a = rng.integers(-2, 3, size=(n, 16, 6)).astype(np.float32) * 0.5
        a[: n // 4] = a[0]  # identical patches -> zero and repeated distances
        arrays[s] = a
    path = write_descriptors(tmp_path / "q.h5", names, arrays, {"descriptor": "q"})
    verif = verification_rows(generate_verification(counts, 400))
    return path, names, arrays, Tasks("full", names, verif, np.zeros((0, 2), np.int64), np.zeros((0, 2), np.int64))


@pytest.mark.parametrize("distance", ["L2", "L1"])
@pytest.mark.parametrize("memory", ["all", "level", "halves", "sequence"])
@pytest.mark.parametrize("shared", [True, False])
def test_verification_paths_equal_reference(tmp_path, distance, memory, shared):
    """Every memory mode gives the reference numbers: all 16 images at once, one level's 6 images,
    sequence groups (two groups of half the set held at a time, or one sequence per group)."""
    path, names, arrays, tasks = _quantised_set(tmp_path)
    level_bytes = sum(a.shape[0] for a in arrays.values()) * 6 * 6 * 4
    memory = {"all": None, "level": level_bytes, "halves": level_bytes - 1, "sequence": 0}[memory]
    if not shared:  # negatives whose first patch differs from the positive's: no shared gathers
        rng = np.random.default_rng(1)
        tasks.verif = {k: (rows if k == "pos" else rows[rng.permutation(rows.shape[0])]) for k, rows in tasks.verif.items()}
    for protocol in ("python", "paper"):
        ref, res = R.verification(arrays, tasks, protocol, distance)
        with open_descriptors(path) as desc:
            got = E.evaluate_verification(desc, tasks, protocol, distance, 7, lambda: None, memory=memory)
        assert got["value"] == pytest.approx(ref, abs=1e-12)
        for lv in ("e", "h", "t"):
            for neg in ("intra", "inter"):
                assert got["breakdown"]["levels"][lv][neg]["auc"] == pytest.approx(res[lv][neg]["auc"], abs=1e-12)
                assert got["breakdown"]["levels"][lv][neg]["ap"] == pytest.approx(res[lv][neg]["ap"], abs=1e-12)


def test_pair_distances_bit_identical_to_reference():
    rng = np.random.default_rng(2)
    flat = rng.normal(size=(50, 33)).astype(np.float32)
    a = rng.integers(0, 50, 300)
    b = rng.integers(0, 50, 300)
    for distance in ("L2", "L1"):
        out = np.empty(300)
        D.distances_into(flat, a, [b], [out], distance, 64)
        ref = [R._dist(flat[i], flat[j], distance) for i, j in zip(a, b)]
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("slab_rows", [None, 5])
def test_descriptor_load_subsets_and_columns(tmp_path, monkeypatch, slab_rows):
    from hpdesc.data import descfile
    if slab_rows:
        monkeypatch.setattr(descfile, "_LOAD_SLAB_BYTES", slab_rows * 16 * 6 * 4)
    path, names, arrays, _ = _quantised_set(tmp_path)
    order = [names[3], names[4], names[0], names[5], names[1]]
    with open_descriptors(path) as desc:
        for images in (None, [0, 6, 7, 15]):
            arr, starts = desc.load(order, images)
            want = np.concatenate([arrays[s] if images is None else arrays[s][:, images] for s in order])
            np.testing.assert_array_equal(arr, want)
            assert starts == {s: int(sum(arrays[x].shape[0] for x in order[:k])) for k, s in enumerate(order)}
        empty, st = desc.load([])
        assert empty.shape == (0, 16, 6) and st == {}


@pytest.mark.parametrize("distance", ["L2", "L1"])
def test_threaded_pair_distances_are_bit_identical(distance):
    from hpdesc.benchmark.distances import distances_into as _distances_into
    from hpdesc.benchmark.distances import distances_parallel as _distances_parallel

    rng = np.random.default_rng(5)
    flat = rng.normal(size=(300, 16)).astype(np.float32)
    a = rng.integers(0, 300, 1000)
    bs = [rng.integers(0, 300, 1000), rng.integers(0, 300, 1000)]
    want = [np.empty(1000), np.empty(1000)]
    got = [np.empty(1000), np.empty(1000)]
    _distances_into(flat, a, bs, want, distance, block=64)
    _distances_parallel(flat, a, bs, got, distance, block=64, workers=3)  # uneven thread slices
    for w, g in zip(want, got):
        np.testing.assert_array_equal(w, g)
