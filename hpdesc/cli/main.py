"""The ``hpdesc`` command: global options and the subcommands, each in its own module."""

from __future__ import annotations

import os
import signal
import sys

# TensorFlow's C++ start-up chatter is noise in a CLI; users can still set it lower.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
from typing import Annotated, Optional

import typer

from hpdesc import __version__
from hpdesc.cli.common import quiet_import_keras, report_error, set_debug

# commands that build or load a model; `benchmark` imports Keras only for --run (see
# hpdesc/cli/benchmark.py), `compare` and the CSV commands never: TensorFlow costs seconds
_NEEDS_KERAS = {"train", "denoise", "describe", "plugins", "sweep", "features", "match", "export"}

app = typer.Typer(
    name="hpdesc",
    help="Learn patch descriptors that survive noise (N-HPatches): denoiser + descriptor training "
    "and the HPatches benchmark.\n\nExample: hpdesc train --denoiser dncnn --descriptor hardnet",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hpdesc {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
) -> None:
    set_debug(debug)
    if ctx.invoked_subcommand in _NEEDS_KERAS:
        quiet_import_keras()


def _register() -> None:
    """Attach the subcommands (imported here so `hpdesc --help` stays fast)."""
    from hpdesc.cli import benchmark, compare, data, denoise, describe, export, features, match, plugins, sweep, train

    for mod in (train, denoise, describe, features, match, benchmark, data, plugins, sweep, compare, export):
        mod.register(app)


_register()


def exit_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit(143)`` so ``with`` blocks unwind: atomic writers remove their
    temporary files (as on Ctrl-C) instead of leaving them behind when a job is killed."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def ignore_sigxfsz() -> None:
    """A file size limit (``ulimit -f``) makes a write fail with EFBIG ("File too large": one line
    naming the output) instead of killing the process with SIGXFSZ (Python ignores it too; this says so)."""
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def main() -> None:
    """Console-script entry point."""
    exit_on_sigterm()
    ignore_sigxfsz()
    try:
        app()
    except SystemExit:
        raise
    except BaseException as exc:  # last resort: never a bare traceback
        sys.exit(report_error(exc))
