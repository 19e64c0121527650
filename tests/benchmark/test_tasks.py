"""Task generation: draw order (replayed with RandomState), scaling, storage, CSV files."""

import h5py
import numpy as np
import pytest

from hpdesc.benchmark.tasks import (RESOURCES, build_tasks, ensure_tasks, generate_retrieval, generate_verification,
                                    load_tasks, verification_rows, write_task_csvs)
from hpdesc.data.store import open_dataset
from hpdesc.errors import DataFormatError


def test_verification_draw_order_replay():
    counts = np.array([7, 9, 5])
    rows = verification_rows(generate_verification(counts, 6))
    rs = np.random.RandomState(42)  # direct replay of the reference generator
    s = rs.choice(["a", "b", "c"], 6)
    idx = [rs.choice(np.arange({"a": 7, "b": 9, "c": 5}[k]), 2, replace=False) for k in s]
    typ = [rs.choice(np.arange(5), 2, replace=False) for _ in s]
    s2 = rs.choice(["a", "b", "c"], 6)
    j = [rs.randint({"a": 7, "b": 9, "c": 5}[k]) for k in s2]
    names = np.array(["a", "b", "c"])
    for r in range(6):
        assert names[rows["pos"][r, 0]] == s[r]
        assert list(rows["pos"][r, 1:]) == [typ[r][0], idx[r][0], rows["pos"][r, 0], typ[r][1], idx[r][0]]
        assert list(rows["neg_intra"][r, [2, 5]]) == [idx[r][0], idx[r][1]]
        assert names[rows["neg_inter"][r, 3]] == s2[r] and rows["neg_inter"][r, 5] == j[r]
    again = verification_rows(generate_verification(counts, 6))
    assert all(np.array_equal(again[k], rows[k]) for k in rows)


def test_verification_generation_memory_does_not_grow_with_sequence_length():
    """Regression: keeping ``perm(k)[:2]`` views held every k-long permutation (~4 GiB at 1M pairs)."""
    import tracemalloc

    counts = np.array([4000, 4000])
    tracemalloc.start()
    try:
        generate_verification(counts, 3000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the draws themselves are ~7 int64 x 3000 = 170 KB; the old code held 3000 x 32 KB = 96 MB
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_retrieval_generation_filters_dedupes_and_separates():
    counts = np.array([20, 20])
    keep = lambda s, i: i >= 3  # noqa: E731  (patches 0..2 are "flat")
    q, d = generate_retrieval(counts, keep, 10, 15)
    assert len(q) == 10 and len({tuple(x) for x in q}) == 10
    assert not {tuple(x) for x in q} & {tuple(x) for x in d}
    assert (q[:, 1] >= 3).all() and (d[:, 1] >= 3).all()
    assert len({tuple(x) for x in d}) == len(d) <= 15
    rs = np.random.RandomState(42)
    s_q = rs.choice(2, 40)
    i_q = [rs.randint(20) for _ in s_q]
    first = next((a, b) for a, b in zip(s_q, i_q) if b >= 3)
    assert tuple(q[0]) == first


def test_stored_tasks_and_ensure(tiny, tmp_path):
    with open_dataset(tiny["dataset"]) as ds:
        t = load_tasks(ds, "a")
        assert t.names == ds.split("a")["test"]
        assert t.verif["pos"].shape[0] == 4500  # 25 x 180 test patches, scaled down from 1e6
        assert not t.notes
        fresh = build_tasks(ds, "a")
        assert fresh.content_hash == t.content_hash
    old = tmp_path / "old.h5"
    with h5py.File(tiny["dataset"], "r") as src, h5py.File(old, "w") as dst:
        for k in src:
            if k != "tasks":
                src.copy(k, dst)
        dst.attrs.update(dict(src.attrs))
    assert ensure_tasks(old) is True
    assert ensure_tasks(old) is False
    with open_dataset(old) as ds:
        assert load_tasks(ds, "a").content_hash == t.content_hash


def test_task_dir_csvs_and_fallback(tiny, tmp_path):
    with open_dataset(tiny["dataset"]) as ds:
        t = load_tasks(ds, "a")
        write_task_csvs(t, tmp_path)
        (tmp_path / "verif_neg_inter_split-a.csv").unlink()
        t2 = load_tasks(ds, "a", tmp_path)
        assert t2.content_hash == t.content_hash
        assert any("verif_neg_inter_split-a.csv" in n for n in t2.notes)
        (tmp_path / "retr_queries_split-a.csv").write_text("s,idx\ni_beta,9999\n")
        with pytest.raises(DataFormatError, match="out of range"):
            load_tasks(ds, "a", tmp_path)


def test_shipped_official_files_present():
    for split in ("a", "b", "c", "full", "illum", "view"):
        assert (RESOURCES / f"retr_queries_split-{split}.csv").read_text().count("\n") == 10001
        assert (RESOURCES / f"retr_distractors_split-{split}.csv").read_text().count("\n") == 20001


def _without_tasks(src_path, dst_path):
    """A copy of a patch file without ``/tasks`` (as files made before tasks were stored)."""
    with h5py.File(src_path, "r") as src, h5py.File(dst_path, "w") as dst:
        for k in src:
            if k != "tasks":
                src.copy(k, dst)
        dst.attrs.update(dict(src.attrs))
    return dst_path


def _state(path):
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns


def test_benchmark_never_rewrites_its_dataset_and_caches_generated_tasks(tiny, tmp_path, monkeypatch):
    """Regression: evaluate copied and replaced a dataset without stored tasks (ensure_tasks)."""
    from hpdesc.benchmark import tasks as T
    from hpdesc.benchmark.evaluate import evaluate

    old = _without_tasks(tiny["dataset"], tmp_path / "old.h5")
    before = _state(old)
    cache = tmp_path / "cache"
    r1 = evaluate(tiny["descriptors"], old, split="a", tasks=["matching", "retrieval"], cache=cache)
    assert _state(old) == before  # bytes and mtime unchanged
    with h5py.File(old, "r") as f:
        assert "tasks" not in f
    cached = sorted((cache / "tasks").glob("*.npz"))
    assert len(cached) == 1
    with open_dataset(old) as ds:
        assert cached[0].name.startswith(ds.uid)
    stamp = cached[0].stat().st_mtime_ns
    ref = evaluate(tiny["descriptors"], tiny["dataset"], split="a", tasks=["matching", "retrieval"], cache=False)
    assert r1.headline == ref.headline  # the same tasks as the ones stored at creation

    def no_generation(*a, **k):
        raise AssertionError("tasks generated again instead of read from the cache")

    monkeypatch.setattr(T, "build_tasks", no_generation)
    r2 = evaluate(tiny["descriptors"], old, split="a", tasks=["matching", "retrieval"], cache=cache)
    assert r2.headline == r1.headline
    assert cached[0].stat().st_mtime_ns == stamp  # read, not rewritten
    assert _state(old) == before


def test_read_only_dataset_benchmarks(tiny, tmp_path):
    import os
    import stat

    from hpdesc.benchmark.evaluate import evaluate

    ro = tmp_path / "ro"
    ro.mkdir()
    old = _without_tasks(tiny["dataset"], ro / "old.h5")
    os.chmod(old, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # 444
    os.chmod(ro, stat.S_IRUSR | stat.S_IXUSR)  # a read-only directory
    try:
        before = _state(old)
        r = evaluate(tiny["descriptors"], old, split="a", tasks=["matching"], cache=tmp_path / "cache")
        assert set(r.headline) == {"matching"}
        assert _state(old) == before
        assert sorted(os.listdir(ro)) == ["old.h5"]  # no temporary file left behind either
        # without any cache the tasks are generated in memory, still without writing
        r2 = evaluate(tiny["descriptors"], old, split="a", tasks=["matching"], cache=False)
        assert r2.headline == r.headline and _state(old) == before
        assert any("no stored tasks" in n for n in r2.notes)
    finally:
        os.chmod(ro, stat.S_IRWXU)
