"""Atomic file writes: write to a temporary sibling, rename over the target only on success.

Every file and folder hpdesc writes goes through here, so an output that cannot be written (a
path under a regular file, a read-only or virtual folder such as ``/proc``, a full disk, a file
size limit) is one :class:`~hpdesc.errors.WriteError` naming the target (``cannot write PATH:
reason``), not an ``OSError`` from a temporary file's name. Also here, the other guarantees of
docs/formats.md ("What hpdesc guarantees about your files"):

* :func:`refuse_inputs`: an output that is one of the command's inputs (the same file, also
  through a symlink or hard link) is refused before any work;
* :func:`io_error`, :func:`writing`, :func:`reading`: the one place an ``OSError`` (h5py's
  included) becomes ``cannot write PATH: reason`` / ``cannot read PATH: reason``;
* temporary files are named ``.<name>.<pid>.<random>.tmp``; one left by a process that has died
  (``kill -9``) is removed by the next write to the same target.
"""

from __future__ import annotations

import contextlib
import errno as _errno
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from hpdesc.errors import ReadError, UsageError, WriteError


def _read_umask() -> int:
    """The process umask without changing it (``os.umask`` sets it, racing threads that create files)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _IMPORT_UMASK


def _umask_at_import() -> int:
    # importing is single-threaded in practice (the import lock); the set-and-restore pair here is
    # the fallback for systems without /proc, read once
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_IMPORT_UMASK = _umask_at_import()


def umask() -> int:
    """The current umask (from ``/proc/self/status``; else the one at import). Never changes it."""
    return _read_umask()


# -- errors ----------------------------------------------------------------------------------------
def os_reason(exc: BaseException) -> str:
    """A short reason for an ``OSError`` (h5py's included): the errno's text when it has one
    (``No space left on device``, ``File too large``), else the message's first line."""
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code > 0:
        return os.strerror(code)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    m = re.search(r"errno = (\d+)", str(exc))  # h5py: "... (file write failed: ..., errno = 28, ...)"
    if m:
        return os.strerror(int(m.group(1)))
    return re.sub(r"^\[Errno \d+\] ", "", text)


def io_error(path, exc: BaseException, *, write: bool) -> UsageError | ReadError:
    """``cannot write PATH: reason`` (:class:`WriteError`) or ``cannot read PATH: reason`` (:class:`ReadError`)."""
    if write:
        hint = ("free some space or choose an output on another disk"
                if getattr(exc, "errno", None) in (_errno.ENOSPC, _errno.EDQUOT, _errno.EFBIG) else
                "choose an output in a folder you can write to")
        return WriteError(f"cannot write {path}: {os_reason(exc)}", hint=hint)
    return ReadError(f"cannot read {path}: {os_reason(exc)}",
                     hint="the file is damaged or unreadable; re-create it or restore a copy")


@contextlib.contextmanager
def writing(path) -> Iterator[None]:
    """Turn a failed write raised in the block (a full disk, a size limit, a read-only folder;
    h5py's "Can't write data" too) into ``cannot write PATH: reason``."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, (WriteError, ReadError)) or not _is_write_failure(exc):
            raise
        raise io_error(path, exc, write=True) from None


# the errors of a write: anything else raised while an output is written (a missing input, a damaged
# one read inside the writer's block) is left for the reader's own message
_WRITE_ERRNOS = {_errno.ENOSPC, _errno.EFBIG, _errno.EDQUOT, _errno.EROFS, _errno.EIO, _errno.EACCES,
                 _errno.EPERM, _errno.ENAMETOOLONG, _errno.EISDIR, _errno.ENOTDIR, _errno.ESTALE}


def _is_write_failure(exc: OSError) -> bool:
    code = getattr(exc, "errno", None)
    if code is None:  # h5py's errors carry errno only sometimes; their text says "write"
        m = re.search(r"errno = (\d+)", str(exc))
        return ("write" in str(exc).lower()) or (m is not None and int(m.group(1)) in _WRITE_ERRNOS)
    return code in _WRITE_ERRNOS


@contextlib.contextmanager
def reading(path) -> Iterator[None]:
    """Turn an ``OSError`` raised in the block (h5py's for a damaged file) into ``cannot read PATH``."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, (WriteError, ReadError)):
            raise
        raise io_error(path, exc, write=False) from None


# -- outputs that are inputs -----------------------------------------------------------------------
def same_file(a, b) -> bool:
    """Whether paths ``a`` and ``b`` are one file: the same (st_dev, st_ino) when both exist (so
    symlinks and hard links count), else the same resolved path."""
    a, b = Path(a), Path(b)
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _within(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies inside it (resolved; also the same folder through a link)."""
    try:
        if folder.exists() and path.exists() and os.path.samefile(path, folder):
            return True
    except OSError:
        pass
    p, f = path.resolve(), folder.resolve()
    return p == f or f in p.parents


def refuse_inputs(outputs: Iterable, inputs: Iterable, *, folders: Iterable = ()) -> None:
    """Refuse, before any work, an output that is one of the command's inputs.

    ``outputs``: files the command will write (None entries skipped); ``folders``: folders it will
    create or replace whole (refused when they are, or contain, an input); ``inputs``: the files
    and folders it reads (an existing file inside an input folder counts as an input). One
    UsageError naming both paths.
    """
    ins = [Path(i) for i in inputs if i is not None]
    for out in (Path(o) for o in outputs if o is not None):
        for inp in ins:
            if same_file(out, inp) or (inp.is_dir() and out.is_file() and _within(out, inp)):
                raise UsageError(f"output {out} is the input {inp}: writing it would destroy the input"
                                 if same_file(out, inp) else
                                 f"output {out} is a file of the input folder {inp}: writing it would change the input",
                                 hint="choose another output path")
    for folder in (Path(o) for o in folders if o is not None):
        for inp in ins:
            if _within(inp, folder):
                raise UsageError(f"output folder {folder} holds the input {inp}: replacing it would destroy the input",
                                 hint="choose another output folder")


# -- temporary files ------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    except OSError:
        return True
    return True


def _tmp_prefix(name: str) -> str:
    return f".{name}.{os.getpid()}."


def remove_stale_temps(target) -> list[Path]:
    """Remove the temporary files and folders (``.<name>.<pid>.<random>.tmp``) left beside
    ``target`` by processes that are no longer running; return what was removed."""
    target = Path(target)
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.[^.]+\.tmp(\.[^/]*)?$")
    removed = []
    try:
        siblings = list(target.parent.iterdir())
    except OSError:
        return removed
    for p in siblings:
        m = pattern.match(p.name)
        if not m or int(m.group(1)) == os.getpid() or _pid_alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
    return removed


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
def atomic_path(path: str | os.PathLike, *, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    ``keep_suffix``: the temporary name ends in ``path``'s suffix too (for writers that insist
    on one, such as Keras' ``.keras``).

    On any exception (or Ctrl-C) the temporary file is removed and ``path`` is left as it was,
    so a reader never sees a half-written file. A target that cannot be written (its folder
    cannot be made or written, or it is a folder) raises :class:`~hpdesc.errors.WriteError`.
    """
    target = Path(path)
    if target.is_dir():
        raise _cannot_write(target, "it is a folder")
    make_dirs(target.parent, target=target)
    remove_stale_temps(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(target.name), suffix=".tmp" + (target.suffix if keep_suffix else ""),
                                   dir=target.parent)
    except OSError as exc:
        raise _cannot_write(target, f"cannot create files in {target.parent} ({exc.strerror or exc})") from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        # mkstemp makes the file 0600; give the final file the usual umask-based permissions
        os.chmod(tmp_path, 0o666 & ~umask())
        with writing(target):  # a full disk, a file size limit: one line naming the target
            yield tmp_path
        try:
            os.replace(tmp_path, target)
        except OSError as exc:
            raise _cannot_write(target, os_reason(exc)) from None
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
    remove_stale_temps(out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(out.name), suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise WriteError(f"cannot write {out}: {exc.strerror or exc}") from None
    old = None
    try:
        os.chmod(tmp, 0o777 & ~umask())
        with writing(out):
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
