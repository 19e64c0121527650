"""One atomic HDF5 writer: a new file is built under a temporary name and renamed only when complete.

Every hpdesc writer of an HDF5 file (patches, descriptors, denoised patches) goes through here, so
an interrupted or failed write never leaves a half-written file behind (hpdesc.atomic does the rename).
A write that fails (a full disk, a file size limit), also when HDF5 flushes its buffers in
``close()``, is one :class:`~hpdesc.errors.WriteError` naming the target, and the temporary file
is removed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import h5py

from hpdesc.atomic import atomic_path, io_error


def _discard(f: h5py.File) -> None:
    """Close a file that is being thrown away, whatever state a failed write left it in.

    After a failed write (a full disk, a file size limit) HDF5 tries to flush again on close, fails,
    and a second close crashed the process (segfault). Pointing the file's descriptor at /dev/null
    first lets that flush succeed into nothing; the temporary file is removed after.
    """
    with contextlib.suppress(Exception):
        if f.id.valid:
            fd = f.id.get_vfd_handle()
            null = os.open(os.devnull, os.O_RDWR)
            try:
                os.dup2(null, int(fd))
            finally:
                os.close(null)
    with contextlib.suppress(Exception):
        f.close()


@contextlib.contextmanager
def atomic_h5(path, *, copy_of=None) -> Iterator[h5py.File]:
    """An open, writable ``h5py.File`` at a temporary sibling of ``path``; renamed to it on success.

    ``copy_of``: start from a copy of that file (opened ``r+``) instead of an empty one.
    """
    import shutil

    with atomic_path(path) as tmp:
        if copy_of is not None:
            shutil.copyfile(copy_of, tmp)
        # no chunk cache: a chunk is written in the call that fills it, so a full disk is an
        # exception there. With a cache, HDF5 wrote chunks when a dataset object was freed, h5py
        # ignored the failure ("Exception ignored in ObjectID.__dealloc__") and the next flush
        # crashed the process (segfault). Measured: no slower to build a patch file.
        f = h5py.File(tmp, "w" if copy_of is None else "r+", rdcc_nbytes=0)
        try:
            yield f
        except BaseException:
            _discard(f)
            raise
        try:
            # flush first, then close: either raises (OSError, or RuntimeError "Can't decrement id
            # ref count") when the disk is full; the file is then discarded safely
            f.flush()
            f.close()
        except (OSError, RuntimeError) as exc:
            _discard(f)
            raise io_error(path, exc, write=True) from None


class AtomicH5Writer:
    """Base of the streaming writers: ``_create(f)`` lays the file out on enter, ``_finish(f)``
    completes it on a clean exit; any exception in either, or in the ``with`` block, removes it."""

    path: Path
    f: h5py.File

    def _create(self, f: h5py.File) -> None:  # pragma: no cover - subclasses override
        ...

    def _finish(self, f: h5py.File) -> None:
        ...

    def __enter__(self):
        self._ctx = atomic_h5(self.path)
        self.f = self._ctx.__enter__()
        try:
            self._create(self.f)
        except BaseException as exc:
            self._ctx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            try:
                self._finish(self.f)
            except BaseException as exc:
                self._ctx.__exit__(type(exc), exc, exc.__traceback__)
                raise
        return self._ctx.__exit__(et, ev, tb)
