"""The HDF5 patch store: round trip, lazy reads, atomic writes and format errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from hpdesc.data.images import IMAGES
from hpdesc.data.store import PATCHES_VERSION, DatasetWriter, open_dataset
from hpdesc.errors import DataFormatError, UsageError


def _arrays(n, seed):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 16, 32, 32), dtype=np.uint8),
            rng.integers(0, 256, (n, 16, 32, 32), dtype=np.uint8))


@pytest.fixture()
def small(tmp_path):
    path = tmp_path / "d.h5"
    data = {"i_a": _arrays(3, 0), "v_b": _arrays(5, 1), "v_c": _arrays(2, 2)}
    with DatasetWriter(path, list(data), [3, 5, 2], {"source": "test", "seed": 7}) as w:
        for name, (c, n) in data.items():
            w.put(name, c, n)
        w.set_split("default", train=["i_a", "v_c"], test=["v_b"])
    return path, data


def test_round_trip(small):
    path, data = small
    with open_dataset(path) as ds:
        assert ds.sequences == ["i_a", "v_b", "v_c"]
        assert ds.n_rows == 10
        assert ds.config == {"source": "test", "seed": 7}
        assert ds.split("default") == {"train": ["i_a", "v_c"], "test": ["v_b"]}
        for name, (c, n) in data.items():
            np.testing.assert_array_equal(ds.patches(name, kind="clean"), c)
            np.testing.assert_array_equal(ds.patches(name, kind="noisy"), n)
            np.testing.assert_array_equal(ds.patches(name, "h3"), c[:, IMAGES.index("h3")])
        np.testing.assert_array_equal(ds.rows_of(["v_c", "i_a"]), [0, 1, 2, 8, 9])
        # per-row sequence and patch index columns
        np.testing.assert_array_equal(ds.f["seq"][()], [0, 0, 0, 1, 1, 1, 1, 1, 2, 2])
        np.testing.assert_array_equal(ds.f["idx"][()], [0, 1, 2, 0, 1, 2, 3, 4, 0, 1])


def test_layout_is_chunked_per_image_and_compressed(small):
    path, _ = small
    with h5py.File(path) as f:
        assert f["clean"].chunks[1:] == (1, 32, 32)
        assert f["clean"].compression == "gzip" and f["clean"].shuffle
        assert f.attrs["format"] == "hpdesc.patches"
        assert f.attrs["format_version"] == PATCHES_VERSION
        for key in ("created_by", "created_at", "config", "uid"):
            assert key in f.attrs


def test_unknown_names_are_usage_errors(small):
    path, _ = small
    with open_dataset(path) as ds:
        with pytest.raises(UsageError, match="no sequence 'v_zz'"):
            ds.patches("v_zz")
        with pytest.raises(UsageError, match="available: default"):
            ds.split("a")
        with pytest.raises(UsageError, match="unknown image"):
            ds.patches("i_a", "x9")


def test_failed_write_leaves_no_file(tmp_path):
    path = tmp_path / "d.h5"
    with pytest.raises(RuntimeError):
        with DatasetWriter(path, ["i_a"], [2], {}) as w:
            w.put("i_a", *_arrays(2, 0))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_incomplete_write_is_refused_and_leaves_no_file(tmp_path):
    path = tmp_path / "d.h5"
    with pytest.raises(ValueError, match="never written"):
        with DatasetWriter(path, ["i_a", "v_b"], [2, 2], {}) as w:
            w.put("i_a", *_arrays(2, 0))
    assert list(tmp_path.iterdir()) == []


def test_wrong_shape_is_refused(tmp_path):
    with pytest.raises(ValueError, match="expected"):
        with DatasetWriter(tmp_path / "d.h5", ["i_a"], [2], {}) as w:
            w.put("i_a", np.zeros((2, 16, 32, 31), np.uint8), np.zeros((2, 16, 32, 31), np.uint8))


def test_existing_file_survives_a_failed_rewrite(small):
    path, data = small
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        with DatasetWriter(path, ["i_a"], [3], {}):
            raise RuntimeError("interrupted")
    assert path.read_bytes() == before


@pytest.mark.parametrize("mutate, message", [
    (lambda f: f.attrs.__setitem__("format", "something.else"), "not an hpdesc 'hpdesc.patches' file"),
    (lambda f: f.attrs.__delitem__("format"), "no 'format' attribute"),
    (lambda f: f.attrs.__setitem__("format_version", 99), "version 99, this hpdesc reads version 1"),
    (lambda f: f.__delitem__("noisy"), "missing dataset(s) noisy"),
])
def test_format_errors_name_the_file_and_problem(small, mutate, message):
    path, _ = small
    with h5py.File(path, "a") as f:
        mutate(f)
    with pytest.raises(DataFormatError) as info:
        open_dataset(path)
    assert str(path) in info.value.message
    assert message in info.value.message


def test_not_hdf5_and_missing(tmp_path):
    bad = tmp_path / "x.h5"
    bad.write_text("hello")
    with pytest.raises(DataFormatError, match="not an HDF5 file"):
        open_dataset(bad)
    with pytest.raises(UsageError, match="no such file"):
        open_dataset(tmp_path / "missing.h5")
