"""The one atomic HDF5 writer: complete files appear under their name, failed ones leave nothing."""

from __future__ import annotations

import h5py
import pytest

from hpdesc.data.h5write import AtomicH5Writer, atomic_h5


class _Writer(AtomicH5Writer):
    def __init__(self, path, fail_in=None):
        self.path, self.fail_in = path, fail_in

    def _create(self, f):
        f.create_dataset("x", data=[1, 2, 3])
        if self.fail_in == "create":
            raise ValueError("create")

    def _finish(self, f):
        if self.fail_in == "finish":
            raise ValueError("finish")
        f.attrs["done"] = True


def test_complete_file_is_renamed(tmp_path):
    with _Writer(tmp_path / "a.h5") as w:
        assert not (tmp_path / "a.h5").exists()  # under a temporary name while it is written
        w.f["x"][0] = 7
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert list(f["x"][:]) == [7, 2, 3] and f.attrs["done"]
    assert [p.name for p in tmp_path.iterdir()] == ["a.h5"]


@pytest.mark.parametrize("fail_in", ["create", "block", "finish"])
def test_a_failure_anywhere_leaves_nothing(tmp_path, fail_in):
    target = tmp_path / "a.h5"
    target.write_bytes(b"old")  # an existing file stays as it was
    with pytest.raises(ValueError, match=fail_in):
        with _Writer(target, fail_in=fail_in):
            if fail_in == "block":
                raise ValueError("block")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.h5"]


def test_atomic_h5_context(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_h5(tmp_path / "b.h5") as f:
            f.create_dataset("y", data=[1])
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with atomic_h5(tmp_path / "b.h5") as f:
        f.create_dataset("y", data=[1])
    with h5py.File(tmp_path / "b.h5", "r") as f:
        assert list(f["y"][:]) == [1]
