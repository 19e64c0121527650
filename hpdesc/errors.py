"""Errors that the CLI turns into one red line and an exit code (ruff-style messages)."""

from __future__ import annotations


class HpdescError(Exception):
    """A failure of the task at hand: bad data, a broken plugin, a failed run (exit 1)."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(HpdescError):
    """Bad command-line or config input: unknown name, bad --set value (exit 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """A config file or KEY=VALUE setting that cannot be used."""


class DataFormatError(HpdescError):
    """A file that is not in the layout hpdesc expects (names the file and what is wrong)."""


class PluginError(HpdescError):
    """A component that cannot be found, loaded or built."""


class UnknownComponentError(PluginError, UsageError):
    """A component name that no installed distribution declares."""

    exit_code = 2


class TrainingError(HpdescError):
    """Training diverged or collapsed (NaN loss, all descriptors at one point)."""


class ParameterError(UsageError, ValueError):
    """A component parameter with a bad value, raised by a factory's own checks (exit 2).

    Factories (hpdesc's and plugins') raise it for a value out of range or of the wrong type; the
    registry reports it as the user's error naming the component. Anything else raised inside a
    factory is the component's own failure (:class:`PluginError`). A ``ValueError`` subclass, so
    code that catches ``ValueError`` around a factory keeps working.
    """


class WriteError(UsageError, OSError):
    """An output that cannot be written: its folder cannot be made or written, or it is a folder (exit 2).

    Also an ``OSError``, so code that treats a failed optional write (a cache entry, the runs'
    ``latest`` pointer) as harmless keeps doing so.
    """


class ReadError(DataFormatError):
    """An input that exists but cannot be read: damaged bytes, an I/O error (``cannot read PATH: reason``)."""


def did_you_mean(name: str, options, *, cutoff: float = 0.6, show=repr) -> str:
    """``". Did you mean 'x'?"`` for the option closest to a mistyped ``name``, else ``""``.

    The one copy of the suggestion every "unknown ..." message appends (ruff's shape);
    ``show`` renders the suggestion (default: quoted), ``cutoff`` is difflib's similarity floor.
    """
    import difflib

    close = difflib.get_close_matches(name, list(options), n=1, cutoff=cutoff)
    return f". Did you mean {show(close[0])}?" if close else ""
