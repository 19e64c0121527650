"""Shared CLI plumbing: the console, error reporting, progress bars and the rich progress reporter."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from typing import Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from hpdesc.errors import HpdescError
from hpdesc.progress import Reporter

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable)

_state = {"debug": bool(os.environ.get("HPDESC_DEBUG"))}


def set_debug(flag: bool) -> None:
    _state["debug"] = flag


def is_debug() -> bool:
    return _state["debug"]


def report_error(exc: BaseException) -> int:
    """Print ``exc`` as one red line (plus an optional hint); return the exit code to use."""
    if is_debug():
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if isinstance(exc, HpdescError):
        # messages quote user input and TOML ("[training]"): escape so rich shows them verbatim
        err_console.print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            err_console.print(f"  [dim]hint:[/] {escape(exc.hint)}", highlight=False, soft_wrap=True)
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        err_console.print("[bold red]error:[/] interrupted", highlight=False)
        return 130
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {escape(msg)}", highlight=False, soft_wrap=True)
    err_console.print("  [dim]hint:[/] this is a bug in hpdesc or a plugin; rerun with --debug for the traceback",
                      highlight=False)
    return 1


def print_wrote(path, note: str = "", *, stderr: bool = False) -> None:
    """``wrote PATH`` on one line: the path verbatim (no rich markup, never wrapped, so it can be copied)."""
    (err_console if stderr else console).print(
        f"wrote [bold]{escape(str(path))}[/]" + (f" {escape(note)}" if note else ""), soft_wrap=True, highlight=False)


def handle_errors(fn: F) -> F:
    """Turn exceptions raised by a command into one red line and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - the CLI boundary
            raise typer.Exit(report_error(exc)) from None

    return wrapper  # type: ignore[return-value]


def progress(transient: bool = False) -> Progress:
    """A rich progress bar with counts, elapsed and remaining time (stderr, so stdout stays clean)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=transient,
        # bars only make sense on a terminal; in logs and pipes each one leaves blank lines behind
        disable=not err_console.is_terminal or bool(os.environ.get("HPDESC_NO_PROGRESS")),
    )


class RichReporter(Reporter):
    """The API's progress sink drawn with rich: one bar at a time, logs above it."""

    def __init__(self):
        self._bar = None
        self._task = None

    def start(self, description: str, total: int | None) -> None:
        self.done()
        self._bar = progress(transient=True)
        self._bar.start()
        self._task = self._bar.add_task(description, total=total)

    def advance(self, n: int = 1, **fields) -> None:
        if self._bar is not None and n:
            self._bar.advance(self._task, n)

    def done(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def log(self, message: str) -> None:
        err_console.print(message, highlight=False, markup=False, soft_wrap=True)


def quiet_import_keras() -> None:
    """Import Keras (and its backend) with C-level stderr silenced.

    TensorFlow prints start-up log lines from C++ before any Python log setting applies; they
    are noise for CLI users. ``--debug`` keeps them.
    """
    if is_debug() or "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import keras  # noqa: F401
            if keras.backend.backend() == "tensorflow":
                import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
