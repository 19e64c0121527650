"""Atomic file writes: write to a temporary sibling, rename over the target only on success.

Every file and folder hpdesc writes goes through here, so an output that cannot be written (a
path under a regular file, a read-only or virtual folder such as ``/proc``) is one
:class:`~hpdesc.errors.WriteError` naming the target (``cannot write PATH: reason``, exit 2), not
an ``OSError`` from a temporary file's name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from hpdesc.errors import WriteError


def _why(path: Path, exc: OSError) -> str:
    """Why ``path`` could not be made: the nearest existing path on the way if it is not a folder."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                return f"{p} is not a folder"
            break
    return exc.strerror or str(exc)


def _cannot_write(target: Path, reason: str) -> WriteError:
    return WriteError(f"cannot write {target}: {reason}",
                      hint="choose an output in a folder you can write to")


def make_dirs(path: str | os.PathLike, *, target: str | os.PathLike | None = None) -> Path:
    """``mkdir -p path``; a failure is a WriteError naming ``target`` (default: ``path``)."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(Path(target) if target is not None else p, _why(p, exc)) from None
    return p


def check_writable(path: str | os.PathLike, *, folder: bool = False) -> None:
    """Raise a WriteError now if ``path`` (a file, or with ``folder`` a folder) could not be written later.

    Run before long work whose result goes to ``path`` (a benchmark report, a run directory), so
    the user learns it at once. Creates nothing: a temporary file in the nearest existing folder
    is made and removed again.
    """
    target = Path(path)
    if folder and target.exists() and not target.is_dir():
        raise _cannot_write(target, "it is a file, not a folder")
    # an existing folder is checked itself (a run directory is filled later; a writer that needs
    # a file there says "it is a folder"), else the nearest existing folder above it
    existing = target if target.is_dir() else next((p for p in target.parents if p.exists()), Path("."))
    if not existing.is_dir():
        raise _cannot_write(target, f"{existing} is not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".hpdesc-check.", suffix=".tmp", dir=existing)
    except OSError as exc:
        raise _cannot_write(target, f"cannot create files in {existing} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    On any exception (or Ctrl-C) the temporary file is removed and ``path`` is left as it was,
    so a reader never sees a half-written file. A target that cannot be written (its folder
    cannot be made or written, or it is a folder) raises :class:`~hpdesc.errors.WriteError`.
    """
    target = Path(path)
    if target.is_dir():
        raise _cannot_write(target, "it is a folder")
    make_dirs(target.parent, target=target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _cannot_write(target, f"cannot create files in {target.parent} ({exc.strerror or exc})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        # mkstemp makes the file 0600; give the final file the usual umask-based permissions
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        yield tmp_path
        try:
            os.replace(tmp_path, target)
        except OSError as exc:
            raise _cannot_write(target, exc.strerror or str(exc)) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented, key-sorted JSON atomically (non-JSON values as ``str``)."""
    import json

    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True, default=str))


@contextlib.contextmanager
def atomic_folder(out: Path):
    """Yield a temporary sibling folder; on success it replaces ``out`` whole (an existing ``out`` is
    moved aside first and removed after, restored if the rename fails); on any error the temporary
    folder is removed and ``out`` is left as it was. The caller decides whether ``out`` may be replaced."""
    out = Path(out)
    make_dirs(out.parent, target=out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise WriteError(f"cannot write {out}: {exc.strerror or exc}") from None
    old = None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        yield tmp
        if out.exists():  # moved aside, then removed
            old = out.parent / f"{tmp.name}.old"
            os.replace(out, old)
        try:
            os.replace(tmp, out)
        except OSError as exc:
            if old is not None:
                os.replace(old, out)
                old = None
            raise WriteError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
