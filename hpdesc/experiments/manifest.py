"""The sweep manifest ``SWEEP/sweep.json``: its name and format version, and the reader compare uses.

:class:`hpdesc.experiments.sweep.Sweep` writes it (atomically, after every run);
:func:`hpdesc.experiments.comparison.collect` reads it without importing the sweep runner.
"""

from __future__ import annotations

import json
from pathlib import Path

from hpdesc.errors import ConfigError

MANIFEST = "sweep.json"
FORMAT = "hpdesc.sweep"
FORMAT_VERSION = 1


def read_manifest(sweep_dir) -> dict:
    """The manifest of ``sweep_dir``; ConfigError if it is unreadable, not a sweep's, or too new."""
    p = Path(sweep_dir) / MANIFEST
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{p}: cannot read the sweep manifest ({exc})") from None
    if data.get("format") != FORMAT:
        raise ConfigError(f"{p}: not an hpdesc sweep manifest")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise ConfigError(f"{p}: sweep manifest version {data.get('format_version')} is newer than this "
                          f"hpdesc reads ({FORMAT_VERSION})", hint="upgrade hpdesc")
    return data


__all__ = ["MANIFEST", "FORMAT", "FORMAT_VERSION", "read_manifest"]
