"""The run directory: layout, resume state, and the "latest run" pointer.

Layout::

    RUN/config.toml              fully resolved configuration (re-run: hpdesc train --config)
    RUN/denoiser.keras           the trained denoiser (plain Keras: hpdesc.load_model, docs/deploying.md)
    RUN/descriptor.keras         the trained descriptor
    RUN/history_<stage>.csv      per-epoch train / validation loss (+ watchdog metrics)
    RUN/curves_<stage>.png       learning curves
    RUN/benchmark.json           benchmark results on the test split (and the baselines)
    RUN/descriptors_test.h5      the run's descriptors of the test split (hpdesc.descriptors)
    RUN/tensorboard/<stage>/     TensorBoard event files
    RUN/checkpoints/             last epoch's weights + optimizer state per stage, pool cache
    RUN/state.json               progress: finished epochs per stage, finished phases
    RUN/.lock                    held (flock) by the process training the run; records its pid
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
from pathlib import Path
from typing import Iterator

from hpdesc.atomic import make_dirs, write_text_atomic
from hpdesc.errors import UsageError, WriteError

LATEST = "latest"
LOCK = ".lock"


def runs_root() -> Path:
    """Where runs go by default: ``$HPDESC_RUNS`` or ``./runs``."""
    return Path(os.environ.get("HPDESC_RUNS", "runs"))


class RunDir:
    """Paths and state of one run directory."""

    def __init__(self, path):
        self.path = Path(path)

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def config(self) -> Path:
        return self.path / "config.toml"

    def model(self, stage: str) -> Path:
        return self.path / f"{stage}.keras"

    def history(self, stage: str) -> Path:
        return self.path / f"history_{stage}.csv"

    def curves(self, stage: str) -> Path:
        return self.path / f"curves_{stage}.png"

    @property
    def benchmark(self) -> Path:
        return self.path / "benchmark.json"

    @property
    def descriptors(self) -> Path:
        return self.path / "descriptors_test.h5"

    def tensorboard(self, stage: str) -> Path:
        return self.path / "tensorboard" / stage

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, stage: str) -> Path:
        return self.checkpoints / f"{stage}_last.npz"

    @property
    def state_path(self) -> Path:
        return self.path / "state.json"

    def state(self) -> dict:
        if not self.state_path.exists():
            return {}
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except ValueError:
            raise UsageError(f"{self.state_path}: corrupt run state (not JSON)") from None
        if not isinstance(state, dict):  # `[]`, `null`: valid JSON, but no state to read or update
            raise UsageError(f"{self.state_path}: corrupt run state (not a JSON object)")
        return state

    def save_state(self, state: dict) -> None:
        write_text_atomic(self.state_path, json.dumps(state, indent=2, sort_keys=True))

    def update_state(self, **kw) -> dict:
        st = self.state()
        st.update(kw)
        self.save_state(st)
        return st

    def inputs(self) -> list[Path]:
        """The files a command that uses this run reads (an output must not be one of them)."""
        return [self.config, self.model("denoiser"), self.model("descriptor"), self.descriptors, self.state_path]

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK

    @contextlib.contextmanager
    def lock(self) -> Iterator["RunDir"]:
        """Hold this run for one training process: a second ``train --resume`` of it fails at once.

        An ``fcntl.flock`` on ``RUN/.lock`` (released by the OS when the process dies, so a killed
        run never stays locked); the file records the holder's pid for the message.
        """
        try:
            import fcntl
        except ImportError:  # no flock (Windows): unlocked, as before
            yield self
            return
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise WriteError(f"cannot write {self.lock_path}: {exc.strerror or exc}") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
                raise UsageError(f"{self.path} is being trained by another process (pid {holder})",
                                 hint="wait for it to finish or stop it, then --resume") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield self
        finally:
            os.close(fd)  # releases the lock

    def check(self) -> "RunDir":
        """Raise a UsageError unless this looks like a run directory."""
        if not self.path.is_dir():
            if self.path.exists():
                raise UsageError(f"{self.path}: not a run directory (it is a file)")
            raise UsageError(f"{self.path}: no such run directory")
        if not self.config.exists():
            raise UsageError(f"{self.path}: not an hpdesc run directory (no config.toml)")
        return self


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text.split(":")[-1]) or "x"


def new_run_dir(denoiser: str, descriptor: str, root: Path | None = None) -> RunDir:
    """A fresh ``runs/<timestamp>-<denoiser>-<descriptor>`` directory (suffixed if it exists)."""
    root = Path(root) if root is not None else runs_root()
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{_slug(denoiser)}-{_slug(descriptor)}"
    path = root / base
    n = 1
    while path.exists():
        n += 1
        path = root / f"{base}-{n}"
    make_dirs(root, target=path)  # an unwritable runs root is one line naming the run directory
    while True:
        try:
            path.mkdir()
        except FileExistsError:  # another process took the name since the check: take the next
            n += 1
            path = root / f"{base}-{n}"
        except OSError as exc:
            raise WriteError(f"cannot write {path}: {exc.strerror or exc}") from None
        else:
            return RunDir(path)


def _pointer_target(pointer: Path) -> Path | None:
    """The run a ``latest`` file names, or None when it is not a pointer hpdesc wrote (one line, an
    absolute path) or cannot be read."""
    try:
        if not pointer.is_file() or pointer.stat().st_size > 4096:
            return None
        lines = pointer.read_text(encoding="utf-8").strip().splitlines()
    except (OSError, ValueError):
        return None
    if len(lines) != 1 or not Path(lines[0].strip()).is_absolute():
        return None
    return Path(lines[0].strip())


def set_latest(run: RunDir, root: Path | None = None) -> str | None:
    """Point ``<runs root>/latest`` at ``run`` (called when a run has trained and passed its checks).

    The pointer always lives in the runs root (``$HPDESC_RUNS`` or ``./runs``), wherever the run
    is (``train --out``), and holds the run's absolute path; it is written atomically. A file
    named ``latest`` there that is not such a pointer (a user's file) is left alone. Returns a note
    for the user when the pointer could not be written (it is a convenience only), else None.
    """
    root = Path(root) if root is not None else runs_root()
    pointer = root / LATEST
    if pointer.exists() or pointer.is_symlink():
        if pointer.is_dir() or pointer.is_symlink() or (pointer.stat().st_size and _pointer_target(pointer) is None):
            return f"note: {pointer} is not hpdesc's pointer; left as it is (pass --run {run.path} to use this run)"
    try:
        make_dirs(root)
        write_text_atomic(pointer, str(run.path.resolve()) + "\n")
    except OSError as exc:  # a read-only runs root: the pointer is a convenience only
        return f"note: could not update {pointer} ({getattr(exc, 'message', exc)})"
    return None


def _trained(run: Path) -> bool:
    """Whether a run directory holds a finished (trained and checked) run."""
    try:
        state = json.loads((run / "state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and bool(state.get("finished"))


def latest_run(root: Path | None = None) -> RunDir:
    """The run commands use when none is given: the one ``<runs root>/latest`` points at (the most
    recently trained run, wherever it is), else the newest finished run under the root, else the
    newest run there with a trained model."""
    root = Path(root) if root is not None else runs_root()
    target = _pointer_target(root / LATEST)
    if target is not None and (target / "config.toml").exists():
        return RunDir(target)
    candidates = [p.parent for p in root.glob("*/config.toml")] if root.is_dir() else []
    finished = [p for p in candidates if _trained(p)]
    with_models = [p for p in candidates if any(p.glob("*.keras"))]
    pool = finished or with_models
    if not pool:
        what = "no trained runs" if candidates else "no runs"
        raise UsageError(f"{what} found under {root}", hint="train one with `hpdesc train` or pass --run RUN_DIR")
    return RunDir(max(pool, key=lambda p: (p / "config.toml").stat().st_mtime))


def run_inputs(run) -> list[Path]:
    """The files of run directory ``run`` that a command reads (none for no run)."""
    return [] if run is None else RunDir(run).inputs()


def default_run(run, reporter):
    """``run``, or the latest run, said on ``reporter`` so the user sees which run is used."""
    if run is not None:
        return run
    path = latest_run().path
    reporter.log(f"using the latest run {path} (pass --run RUN_DIR to choose another)")
    return path
