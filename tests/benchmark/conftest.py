"""Tiny datasets and descriptor files for the benchmark tests (written with the real writers)."""

from __future__ import annotations

import numpy as np
import pytest

from hpdesc.benchmark.tasks import build_tasks
from hpdesc.data.descfile import write_descriptors
from hpdesc.data.store import DatasetWriter

SEQS = ["i_alpha", "i_beta", "i_gamma", "v_delta", "v_eps", "v_zeta"]
COUNTS = [40, 55, 30, 48, 60, 35]


def make_dataset(path, seqs=SEQS, counts=COUNTS, seed=0):
    rng = np.random.default_rng(seed)
    with DatasetWriter(path, seqs, counts, {"source": "test"}, tasks=build_tasks) as w:
        for s, n in zip(seqs, counts):
            clean = rng.integers(0, 256, size=(n, 16, 32, 32), dtype=np.uint8)
            clean[: n // 8] = 128  # flat patches: dropped by the retrieval std filter
            w.put(s, clean, clean)
        w.set_split("a", train=seqs[:1] + seqs[3:4], test=seqs[1:3] + seqs[4:])
        w.set_split("full", train=[], test=seqs)
    return path


def make_descriptors(counts=COUNTS, dim=8, noise=0.6, seed=1, seqs=SEQS):
    """Descriptors where images of a patch are noisy copies of one vector (non-trivial APs)."""
    rng = np.random.default_rng(seed)
    out = {}
    for s, n in zip(seqs, counts):
        base = rng.normal(size=(n, 1, dim))
        out[s] = (base + noise * rng.normal(size=(n, 16, dim))).astype(np.float32)
    return out


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    ds = make_dataset(root / "data.h5")
    arrays = make_descriptors()
    desc = write_descriptors(root / "desc.h5", SEQS, arrays,
                             {"dataset": str(ds), "descriptor": "toy", "run_dir": None})
    return {"dataset": ds, "descriptors": desc, "arrays": arrays, "root": root}


@pytest.fixture(autouse=True)
def _cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HPDESC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HPDESC_NO_PROGRESS", "1")
