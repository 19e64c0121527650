"""The embedded dataset: photos, rendering, determinism, splits, config, noise and the cache."""

from __future__ import annotations

import os

import numpy as np
import pytest

from hpdesc.data import cache, extract, photos, synth
from hpdesc.data.store import open_dataset
from hpdesc.errors import UsageError

SMALL = dict(n_sequences=4, n_patches=12, image_size=160)


def ncc(a, b):
    a = a.reshape(len(a), -1).astype(float)
    b = b.reshape(len(b), -1).astype(float)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    d = tmp_path_factory.mktemp("synth")
    return synth.synthesize(d / "a.h5", seed=0, **SMALL), synth.synthesize(d / "b.h5", seed=0, **SMALL), \
        synth.synthesize(d / "c.h5", seed=1, **SMALL)


def test_photos_load_grey_float():
    names = photos.photo_names()
    assert len(names) >= 10 and "grace_hopper" in names and "astronaut" in names
    img = photos.load_photo(names[0])
    assert img.ndim == 2 and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    rng = np.random.default_rng(0)
    a, b = photos.crop_view("camera", 0, 128, rng), photos.crop_view("camera", 1, 128, rng)
    assert a.image.shape == b.image.shape == (128, 128)
    assert not np.array_equal(a.image, b.image)


def test_same_seed_same_bytes_other_seed_differs(small):
    a, b, c = small
    with open_dataset(a) as da, open_dataset(b) as db, open_dataset(c) as dc:
        assert da.sequences == db.sequences
        for kind in ("clean", "noisy"):
            assert np.array_equal(da.array(kind)[:], db.array(kind)[:])
        assert da.config == db.config
        assert da.n_rows != dc.n_rows or not np.array_equal(da.array("clean")[:], dc.array("clean")[:])


def test_layout_split_and_config(small):
    with open_dataset(small[0]) as ds:
        assert ds.sequences == ["i_astronaut_0", "v_coffee_0", "i_chelsea_0", "v_camera_0"]
        assert all(0 < ds.count(s) <= 12 for s in ds.sequences)
        sp = ds.split("default")
        assert set(sp["train"]).isdisjoint(sp["test"])
        assert set(sp["train"]) | set(sp["test"]) == set(ds.sequences)
        assert any(s.startswith("i_") for s in sp["test"]) and any(s.startswith("v_") for s in sp["test"])
        cfg = ds.config
        assert cfg["source"] == "hpdesc-synth" and cfg["generator_version"] == synth.GENERATOR_VERSION
        assert cfg["seed"] == 0 and cfg["photos"] == ["astronaut", "coffee", "chelsea", "camera"]
        assert cfg["noise"]["model"] == "poisson-gaussian"
        assert cfg["extract"]["jitter"]["t"]["rotation_deg"] == 30.0
        clean, noisy = ds.array("clean")[:].astype(float), ds.array("noisy")[:].astype(float)
    std = (noisy - clean).std(axis=(0, 2, 3))
    assert std[1:6].mean() < std[6:11].mean() < std[11:16].mean()


def test_default_split_shape():
    names = [f"{k}_{i}" for i in range(12) for k in ("i", "v")]
    train, test = synth.default_split(names, {n: n for n in names}, 0)
    assert len(test) == 6 and sum(t.startswith("i_") for t in test) == 3
    train, test = synth.default_split(["i_a", "v_b"], {"i_a": "a", "v_b": "b"}, 0)
    assert train == ["i_a"] and test == ["v_b"]


def test_viewpoint_render_is_consistent_with_its_homographies():
    ref, targets, Hs, _ = synth.render_sequence("v_coffee_0", "coffee", 0, seed=0, size=200)
    assert not any(np.allclose(H, np.eye(3)) for H in Hs)
    shapes = [t.shape for t in targets]
    frames = extract.select_frames(ref, Hs, shapes, 15, np.random.default_rng(0),
                                   extract.ExtractParams().without_jitter())
    assert len(frames) >= 5
    P = extract.sample_patches(ref, targets, Hs, frames)
    assert np.median(ncc(P[:, 0], P[:, 5])) > 0.9  # e5: strongest viewpoint, no jitter
    # the viewpoint change is real: the same frames without the homography do not match
    Q = extract.sample_patches(ref, targets, [np.eye(3)] * 5, frames)
    assert np.median(ncc(Q[:, 0], Q[:, 5])) < 0.6


def test_illumination_render_identity_geometry_growing_change():
    ref, targets, Hs, _ = synth.render_sequence("i_camera_0", "camera", 0, seed=0, size=160)
    assert all(np.array_equal(H, np.eye(3)) for H in Hs)
    diffs = [np.abs(t - ref).mean() for t in targets]
    assert diffs[4] > diffs[0] > 0
    P = extract.extract_patches(ref, targets, Hs, 15, np.random.default_rng(0),
                                extract.ExtractParams().without_jitter())
    assert np.median(ncc(P[:, 0], P[:, 1])) > 0.9


def test_bad_sizes():
    with pytest.raises(UsageError, match="n_sequences"):
        synth.synthesize("x.h5", n_sequences=1)
    with pytest.raises(UsageError, match="n_patches"):
        synth.synthesize("x.h5", n_patches=0)


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.setenv("HPDESC_HOME", str(tmp_path / "h"))
    assert cache.cache_dir() == tmp_path / "h"
    p = cache.default_dataset_path(0, 24, 80)
    assert p.parent == tmp_path / "h" / "datasets" and f"g{synth.GENERATOR_VERSION}" in p.name
    monkeypatch.delenv("HPDESC_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache.cache_dir() == tmp_path / "x" / "hpdesc"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache.cache_dir() == cache.Path.home() / ".cache" / "hpdesc"


def test_default_dataset_built_once_then_reused_and_repaired(monkeypatch, tmp_path):
    monkeypatch.setenv("HPDESC_HOME", str(tmp_path))
    monkeypatch.setattr(cache, "DEFAULT_SEQUENCES", 2)
    monkeypatch.setattr(cache, "DEFAULT_PATCHES", 5)
    calls = []
    p = cache.default_dataset(progress=lambda d, t: calls.append((d, t)))
    assert p.is_file() and calls[-1] == (4, 4)
    stamp = os.stat(p).st_mtime_ns
    assert cache.default_dataset() == p and os.stat(p).st_mtime_ns == stamp
    p.write_bytes(b"not hdf5")
    assert cache.default_dataset() == p
    with open_dataset(p) as ds:
        assert ds.config["n_sequences"] == 2
