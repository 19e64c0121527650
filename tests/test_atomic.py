"""hpdesc.atomic's guarantees (docs/formats.md "What hpdesc guarantees about your files"): outputs that
are inputs refused, OSErrors as one line naming the path, stale temporary files removed, umask read
without setting it, an HDF5 write that hits a file size limit cleaned up."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from hpdesc import atomic
from hpdesc.errors import ReadError, UsageError, WriteError


# -- outputs that are inputs ------------------------------------------------------------------------
def test_an_output_that_is_an_input_is_refused_also_through_links(tmp_path):
    data = tmp_path / "d.h5"
    data.write_bytes(b"data")
    (tmp_path / "sym.h5").symlink_to(data)
    os.link(data, tmp_path / "hard.h5")
    for out in (data, tmp_path / "sym.h5", tmp_path / "hard.h5", tmp_path / "." / "d.h5"):
        with pytest.raises(UsageError, match="is the input") as exc:
            atomic.refuse_inputs([out], [tmp_path / "other.h5", data])
        assert str(out) in exc.value.message and str(data) in exc.value.message
    atomic.refuse_inputs([tmp_path / "new.h5", None], [data, None])  # another file: fine
    assert data.read_bytes() == b"data"


def test_an_output_folder_holding_an_input_is_refused(tmp_path):
    run = tmp_path / "runs" / "r1"
    run.mkdir(parents=True)
    with pytest.raises(UsageError, match="holds the input"):
        atomic.refuse_inputs([], [run], folders=[tmp_path / "runs"])
    with pytest.raises(UsageError, match="holds the input"):
        atomic.refuse_inputs([], [run], folders=[run])
    atomic.refuse_inputs([], [run], folders=[run / "export" / "onnx"])  # inside the run: fine


def test_an_existing_file_inside_an_input_folder_counts_as_an_input(tmp_path):
    (tmp_path / "seq").mkdir()
    (tmp_path / "seq" / "1.ppm").write_bytes(b"P5")
    with pytest.raises(UsageError, match="a file of the input folder"):
        atomic.refuse_inputs([tmp_path / "seq" / "1.ppm"], [tmp_path / "seq"])
    atomic.refuse_inputs([tmp_path / "seq" / "new.json"], [tmp_path / "seq"])


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("code, text", [(errno.ENOSPC, "No space left on device"), (errno.EFBIG, "File too large")])
def test_os_errors_become_one_line_naming_the_path(tmp_path, code, text):
    target = tmp_path / "out.h5"
    with pytest.raises(WriteError) as exc:
        with atomic.atomic_path(target):
            raise OSError(code, "Can't write data (file write failed: ..., errno = %d, ...)" % code)
    assert exc.value.message == f"cannot write {target}: {text}"
    assert not target.exists() and os.listdir(tmp_path) == []  # no temporary file left
    h5py_style = OSError("Can't synchronously read data (filter returned failure during read)")
    with pytest.raises(ReadError, match=rf"^cannot read {tmp_path / 'in.h5'}: Can't synchronously read data"):
        with atomic.reading(tmp_path / "in.h5"):
            raise h5py_style


def test_an_hdf5_write_over_the_file_size_limit_is_a_write_error_and_leaves_nothing(tmp_path):
    # in a subprocess: the limit applies to the whole process, and the failure used to segfault it
    code = f"""
import resource, numpy as np, sys
from hpdesc.data.h5write import atomic_h5
from hpdesc.errors import WriteError
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    with atomic_h5({str(tmp_path / 'big.h5')!r}) as f:
        f.create_dataset("x", shape=(400000,), dtype="f8", chunks=(1000,), compression="gzip")
        for lo in range(0, 400000, 50000):  # a temporary Dataset per write, as the patch writers do
            f["x"][lo:lo + 50000] = np.random.rand(50000)
except WriteError as exc:
    print(exc.message)
    sys.exit(2)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert res.stdout.strip() == f"cannot write {tmp_path / 'big.h5'}: File too large"
    assert os.listdir(tmp_path) == []


# -- temporary files ------------------------------------------------------------------------------
def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporary_files_of_dead_processes_are_removed_on_the_next_write(tmp_path):
    target = tmp_path / "x.h5"
    stale = tmp_path / f".x.h5.{_dead_pid()}.k2j3.tmp"
    stale.write_bytes(b"half a file")
    live = tmp_path / f".x.h5.{os.getppid()}.abcd.tmp"  # a process still running: maybe still writing
    live.write_bytes(b"in progress")
    other = tmp_path / f".y.h5.{_dead_pid()}.zz.tmp"  # another target's: not ours to remove
    other.write_bytes(b"other")
    atomic.write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert not stale.exists() and live.exists() and other.exists()


def test_temporary_files_carry_the_writers_pid(tmp_path):
    with atomic.atomic_path(tmp_path / "a.txt") as tmp:
        assert tmp.name.startswith(f".a.txt.{os.getpid()}.") and tmp.name.endswith(".tmp")
        tmp.write_text("x")


# -- umask --------------------------------------------------------------------------------------------
def test_writes_never_set_the_process_umask(tmp_path, monkeypatch):
    mask = os.umask(0o027)
    os.umask(mask | 0o027)
    try:
        assert atomic.umask() == mask | 0o027

        def forbidden(*a):
            raise AssertionError("os.umask called while writing: it changes the mask for every thread")

        monkeypatch.setattr(os, "umask", forbidden)
        atomic.write_text_atomic(tmp_path / "f.txt", "x")
        with atomic.atomic_folder(tmp_path / "folder") as tmp:
            (tmp / "a").write_text("y")
    finally:
        monkeypatch.undo()
        os.umask(mask)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o666 & ~(mask | 0o027)
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o777 & ~(mask | 0o027)

