"""The vectorised evaluator against the per-pair reference loops, plus hand-made retrieval cases."""

import sys
from pathlib import Path

import numpy as np
import pytest

from hpdesc.benchmark.distances import nearest_neighbours
from hpdesc.benchmark.evaluate import evaluate
from hpdesc.benchmark.retrieval import POOL_SIZES, retrieval_aps
from hpdesc.benchmark.tasks import load_tasks
from hpdesc.data.descfile import write_descriptors
from hpdesc.data.store import open_dataset
from hpdesc.data.tasks import Tasks

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import reference_eval as R  # noqa: E402


@pytest.mark.parametrize("protocol", ["python", "paper"])
@pytest.mark.parametrize("distance", ["L2", "L1"])
def test_matches_reference_loops(tiny, protocol, distance):
    r = evaluate(tiny["descriptors"], split="a", protocol=protocol, distance=distance, cache=False)
    with open_dataset(tiny["dataset"]) as ds:
        t = load_tasks(ds, "a")
        test = ds.split("a")["test"]
    arr = tiny["arrays"]
    assert r.headline["verification"] == pytest.approx(R.verification(arr, t, protocol, distance)[0], abs=1e-9)
    assert r.headline["matching"] == pytest.approx(R.matching(arr, test, protocol, distance)[0], abs=1e-9)
    assert r.headline["retrieval"] == pytest.approx(R.retrieval(arr, t, protocol, distance)[0], abs=1e-9)
    assert (r.split, r.protocol, r.distance) == ("a", protocol, distance)
    assert r.dataset.endswith("data.h5")


@pytest.mark.parametrize("protocol", ["python", "paper"])
def test_retrieval_pools_and_masking_vs_reference(protocol):
    rng = np.random.default_rng(3)
    n_seq, n = 6, 400
    names = [f"v_{k}" for k in range(n_seq)]
    descs = {s: (rng.normal(size=(n, 1, 4)) + 0.8 * rng.normal(size=(n, 16, 4))).astype(np.float32) for s in names}
    q = np.stack([rng.integers(0, n_seq, 12), rng.integers(0, n, 12)], 1)
    d = np.stack([rng.integers(0, n_seq, 1200), rng.integers(0, n, 1200)], 1)  # spans pools 100..1000
    t = Tasks("x", names, {}, q, d)
    ref_mean, ref_aps = R.retrieval(descs, t, protocol, "L2")
    from hpdesc.data.images import image_index
    q_ref = np.array([descs[names[s]][i, 0] for s, i in q])
    q_pos = np.array([[[descs[names[s]][i, image_index(lv, k)] for k in range(1, 6)] for lv in "eht"] for s, i in q])
    d_ref = np.array([descs[names[s]][i, 0] for s, i in d])
    aps = retrieval_aps(q_ref, q_pos, d_ref, q[:, 0], d[:, 0], protocol, "L2", block=5)
    np.testing.assert_allclose(aps, ref_aps, atol=1e-12)


def test_retrieval_by_hand_masking_and_pools():
    # 1-D descriptors; query at 0; positives at distance 1..5 (image n_i at i) for every level
    q_ref = np.zeros((1, 1))
    q_pos = np.tile(np.arange(1.0, 6.0)[None, None, :, None], (1, 3, 1, 1))
    # distractors: 96 from another sequence at 2.5 (between positives 2 and 3), then one from the
    # query's own sequence at 0.1 (masked: never counted), then 300 far away.
    d_ref = np.concatenate([np.full(96, 2.5), [0.1], np.full(300, 100.0)])[:, None]
    d_seq = np.array([1] * 96 + [0] + [1] * 300)
    aps = retrieval_aps(q_ref, q_pos, d_ref, np.array([0]), d_seq, "python")
    # pool 100: the first 95 unmasked distractors -> positives at ranks 1, 2, 98, 99, 100
    # pools >= 500: 96 in front of positives 3..5 -> ranks 1, 2, 99, 100, 101
    def trap(ranks):
        return sum(((max(m - 1, 1e-10) / max(r - 1, 1e-10)) + m / r) / 2 for m, r in enumerate(ranks, 1)) / 5
    assert aps[0, 0, 0] == pytest.approx(trap([1, 2, 98, 99, 100]), abs=1e-12)
    for j in range(1, len(POOL_SIZES)):
        assert aps[0, 0, j] == pytest.approx(trap([1, 2, 99, 100, 101]), abs=1e-12)
    paper = retrieval_aps(q_ref, q_pos, d_ref, np.array([0]), d_seq, "paper")
    assert paper[0, 0] == pytest.approx((1 + 1 + 3 / 99 + 4 / 100 + 5 / 101) / 5)


def test_positive_wins_ties_against_distractors():
    q_ref = np.zeros((1, 1))
    q_pos = np.tile(np.arange(1.0, 6.0)[None, None, :, None], (1, 3, 1, 1))
    d_ref = np.array([[1.0], [1.0]])  # tie with the first positive
    aps = retrieval_aps(q_ref, q_pos, d_ref, np.array([0]), np.array([1, 1]), "paper")
    assert aps[0, 0] == pytest.approx((1 + 2 / 4 + 3 / 5 + 4 / 6 + 5 / 7) / 5)


def test_nearest_neighbour_ties_take_first_index():
    a = np.array([[0.3, 0.1, 0.7]])
    b = np.array([[9.0, 9.0, 9.0], [0.3, 0.2, 0.7], [0.3, 0.0, 0.7], [0.3, 0.2, 0.7]])
    idx, dist = nearest_neighbours(a, b)
    assert idx[0] == 1 and dist[0] == pytest.approx(0.1)


def test_cache_hit_and_invalidation(tiny, tmp_path):
    desc = tmp_path / "d.h5"
    seqs = list(tiny["arrays"])
    write_descriptors(desc, seqs, tiny["arrays"], {"dataset": str(tiny["dataset"]), "descriptor": "c"})
    r1 = evaluate(desc, split="a", tasks=["matching"], cache=tmp_path / "cache")
    r2 = evaluate(desc, split="a", tasks=["matching"], cache=tmp_path / "cache")
    assert r1.cached == [] and r2.cached == ["matching"] and r1.headline == r2.headline
    changed = {s: a.copy() for s, a in tiny["arrays"].items()}
    changed[seqs[1]][:, 1:] = changed[seqs[1]][:, :1]  # perfect descriptors for one test sequence
    write_descriptors(desc, seqs, changed, {"dataset": str(tiny["dataset"]), "descriptor": "c"})
    r3 = evaluate(desc, split="a", tasks=["matching"], cache=tmp_path / "cache")
    assert r3.cached == [] and r3.headline["matching"] != r1.headline["matching"]


def test_held_descriptors_give_the_same_numbers_as_reads_from_the_file(tiny, tmp_path):
    # cache=False: the descriptors are read once in a thread while the tasks load; memory=1: never held
    # (each task reads the file); a cache directory: held after the cache lookups
    held = evaluate(tiny["descriptors"], split="a", cache=False)
    unheld = evaluate(tiny["descriptors"], split="a", cache=False, memory=1)
    late = evaluate(tiny["descriptors"], split="a", cache=tmp_path / "c")
    assert "read" in held.seconds and "read" not in unheld.seconds and "read" in late.seconds
    for r in (unheld, late):
        assert r.headline == held.headline and r.breakdown == held.breakdown
    cached = evaluate(tiny["descriptors"], split="a", cache=tmp_path / "c")  # all hits: nothing to read
    assert cached.cached == ["verification", "matching", "retrieval"] and "read" not in cached.seconds


def test_a_caller_s_descriptor_set_is_released_after_evaluate(tiny):
    from hpdesc.data.descfile import open_descriptors

    with open_descriptors(tiny["descriptors"]) as d:
        evaluate(d, tiny["dataset"], split="a", cache=False)
        assert d.held == []  # the memory is not kept past the call


@pytest.mark.parametrize("protocol", ["python", "paper"])
def test_retrieval_blocks_in_threads_give_the_sequential_result(protocol):
    rng = np.random.default_rng(5)
    q_ref, q_pos, d_ref = rng.normal(size=(37, 6)), rng.normal(size=(37, 3, 5, 6)), rng.normal(size=(900, 6))
    q_seq, d_seq = rng.integers(0, 4, 37), rng.integers(0, 4, 900)
    one = retrieval_aps(q_ref, q_pos, d_ref, q_seq, d_seq, protocol, "L2", block=4, workers=1)
    three = retrieval_aps(q_ref, q_pos, d_ref, q_seq, d_seq, protocol, "L2", block=4, workers=3)
    assert one.shape[0] == 37 and np.isfinite(one).all()
    np.testing.assert_array_equal(one, three)
