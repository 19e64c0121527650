"""Mutual nearest neighbours against a brute-force loop; the .npz feature format round trip."""

import numpy as np
import pytest

from hpdesc.errors import DataFormatError
from hpdesc.matching import match as M
from hpdesc.matching.features import Features, feature_path, load_features, save_features


def _reference(a, b, ratio=None):
    d = ((a[:, None].astype(np.float64) - b[None]) ** 2).sum(-1)
    n12, n21 = d.argmin(1), d.argmin(0)
    s = np.sort(d, axis=1)
    out = []
    for i in range(len(a)):
        j = n12[i]
        if n21[j] != i:
            continue
        if ratio is not None and not np.sqrt(s[i, 0]) < ratio * np.sqrt(s[i, 1]):
            continue
        out.append((i, j))
    return out


@pytest.mark.parametrize("block", [1, 7, 4096])
def test_mutual_nn_ties_keep_the_first_index(monkeypatch, block):
    """Exact ties (repeated descriptors) resolve to the lowest index, as one argmin would."""
    monkeypatch.setattr(M, "_BLOCK", block)
    rng = np.random.default_rng(3)
    base = rng.integers(0, 3, size=(12, 4)).astype(np.float32)  # few distinct values: many ties
    a = base[rng.integers(0, 12, 40)]
    b = base[rng.integers(0, 12, 33)]
    assert [tuple(m) for m in M.mutual_nn(a, b)] == _reference(a, b)


@pytest.mark.parametrize("ratio", [None, 0.8])
def test_mutual_nn_matches_brute_force(monkeypatch, ratio):
    monkeypatch.setattr(M, "_BLOCK", 7)  # several row blocks, so the column minima cross blocks
    rng = np.random.default_rng(1)
    a = rng.normal(size=(60, 16)).astype(np.float32)
    b = np.concatenate([a[:40] + 0.5 * rng.normal(size=(40, 16)), rng.normal(size=(25, 16))]).astype(np.float32)
    got = sorted(map(tuple, M.mutual_nn(a, b, ratio).tolist()))
    assert got == _reference(a, b, ratio)
    assert len(got) > 10


def test_mutual_nn_edge_cases():
    a = np.eye(3, dtype=np.float32)
    assert M.mutual_nn(a, np.zeros((0, 3), np.float32)).shape == (0, 2)
    assert M.mutual_nn(a[:1], a).tolist() == [[0, 0]]
    with pytest.raises(DataFormatError, match="widths differ"):
        M.mutual_nn(a, np.ones((2, 4), np.float32))


def test_feature_file_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    f = Features(rng.uniform(0, 100, (5, 2)), rng.uniform(size=5), rng.normal(size=(5, 8)))
    path = feature_path(tmp_path / "1.ppm", "hpdesc-x")
    assert path.name == "1.ppm.hpdesc-x"
    save_features(path, f)
    assert [p.name for p in tmp_path.iterdir()] == ["1.ppm.hpdesc-x"]
    g = load_features(path)
    np.testing.assert_allclose(g.keypoints, f.keypoints)
    np.testing.assert_allclose(g.descriptors, f.descriptors)
    assert g.dim == 8 and len(g) == 5


def test_feature_file_errors(tmp_path):
    np.savez(open(tmp_path / "a.m", "wb"), keypoints=np.zeros((2, 2)))
    with pytest.raises(DataFormatError, match="no descriptors"):
        load_features(tmp_path / "a.m")
    (tmp_path / "b.m").write_text("not a zip")
    with pytest.raises(DataFormatError, match="cannot read"):
        load_features(tmp_path / "b.m")
    with pytest.raises(DataFormatError, match="descriptors must be N x D"):
        Features(np.zeros((3, 2)), np.zeros(3), np.zeros((2, 8)))


def test_mutual_nn_ties_follow_argmin(monkeypatch):
    """Rows at the same distance from a column: the first row is the column's nearest (as argmin)."""
    monkeypatch.setattr(M, "_BLOCK", 2)  # the tied rows fall in different blocks
    a = np.array([[0, 0], [5, 5], [1, 0], [1, 0]], np.float32)
    b = np.array([[1, 0], [9, 9]], np.float32)
    got = sorted(map(tuple, M.mutual_nn(a, b).tolist()))
    d = ((a[:, None] - b[None]) ** 2).sum(-1)
    want = [(i, j) for i, j in enumerate(d.argmin(1)) if d[:, j].argmin() == i]
    assert got == want == [(1, 1), (2, 0)]
