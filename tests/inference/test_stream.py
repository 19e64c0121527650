"""Streaming describe / benchmark: small HDF5 chunks give exactly the in-memory results."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "training"))
from tiny import make_tiny_dataset  # noqa: E402


def test_chunked_describe_equals_in_memory(tmp_path):
    from hpdesc import registry
    from hpdesc.benchmark.evaluate import evaluate
    from hpdesc.data.descfile import open_descriptors, write_descriptors
    from hpdesc.data.store import open_dataset
    from hpdesc.benchmark.denoising import DenoisingMeter
    from hpdesc.inference.describe import describe_sequences
    from hpdesc.inference.pipeline import Pipeline

    data = make_tiny_dataset(tmp_path / "tiny.h5", n_seq=4, n_patches=7)
    den = registry.build("denoiser", "dncnn", input_shape=(32, 32, 1), depth=3, filters=4)
    desc = registry.build("descriptor", "hardnet", input_shape=(32, 32, 1), filters=4, dim=8)
    pipe = Pipeline(den, desc)
    with open_dataset(data) as ds:
        seqs = list(ds.sequences)
        whole = {s: pipe.describe(ds.patches(s, kind="noisy")) for s in seqs}  # everything in memory
        m_small, m_big = DenoisingMeter(ssim=False), DenoisingMeter(ssim=False)
        small = dict(describe_sequences(pipe, ds, seqs, meter=m_small, chunk_rows=3))  # 7 rows: 3+3+1
        big = dict(describe_sequences(pipe, ds, seqs, meter=m_big, chunk_rows=10_000))
        assert m_small.result() == m_big.result()
        config = {"dataset": str(data), "dataset_uid": ds.uid, "descriptor": "x", "run_dir": None}
        counts = [ds.count(s) for s in seqs]
    for s in seqs:
        np.testing.assert_allclose(small[s], whole[s], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(small[s], big[s])
    a = write_descriptors(tmp_path / "a.h5", seqs, whole, config)
    b = write_descriptors(tmp_path / "b.h5", seqs, iter(small.items()), config, counts=counts, dim=8)
    with open_descriptors(a) as fa, open_descriptors(b) as fb:
        np.testing.assert_allclose(fb.load(seqs)[0], fa.load(seqs)[0], rtol=1e-5, atol=1e-6)
    ra = evaluate(a, data, split="default", cache=False)
    rb = evaluate(b, data, split="default", cache=False)
    assert set(ra.headline) == {"verification", "matching", "retrieval"}
    for task, v in ra.headline.items():
        assert rb.headline[task] == pytest_approx(v)


def pytest_approx(v):
    import pytest

    return pytest.approx(v, abs=1e-6)
