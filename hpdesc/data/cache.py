"""Where hpdesc keeps generated files, and the embedded default dataset built on first use.

The cache directory is ``$HPDESC_HOME`` if set, else ``$XDG_CACHE_HOME/hpdesc``, else
``~/.cache/hpdesc``. The default dataset lives in ``datasets/`` there, under a name that spells
out the generator version and settings, so a new generator never reuses an old file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from hpdesc.data.synth import DEFAULT_PATCHES, DEFAULT_SEQUENCES, GENERATOR_VERSION, synthesize
from hpdesc.errors import HpdescError

DEFAULT_SEED = 0


def cache_dir() -> Path:
    """The hpdesc cache directory (not created here)."""
    home = os.environ.get("HPDESC_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "hpdesc"
    return Path.home() / ".cache" / "hpdesc"


def default_dataset_path(seed: int = DEFAULT_SEED, n_sequences: int = DEFAULT_SEQUENCES,
                         n_patches: int = DEFAULT_PATCHES) -> Path:
    """Cache path of the embedded dataset with these settings (it may not exist yet)."""
    name = f"hpdesc-synth-g{GENERATOR_VERSION}-seed{int(seed)}-seq{int(n_sequences)}-p{int(n_patches)}.h5"
    return cache_dir() / "datasets" / name


def _usable(path: Path) -> bool:
    from hpdesc.data.store import open_dataset

    if not path.is_file():
        return False
    try:
        with open_dataset(path) as ds:
            ok = ds.config.get("generator_version") == GENERATOR_VERSION and ds.n_rows > 0
    except (HpdescError, OSError, ValueError, KeyError):
        return False
    return ok


def default_dataset(progress: Callable[[int, int], None] | None = None, tasks=None) -> Path:
    """Path of the embedded default dataset, generating it on first use (a few seconds).

    A cached file that does not open as a valid patch file is rebuilt. Writing is atomic, so an
    interrupted build leaves no half-written file behind. ``tasks``: see
    :func:`~hpdesc.data.synth.synthesize`.
    """
    path = default_dataset_path(DEFAULT_SEED, DEFAULT_SEQUENCES, DEFAULT_PATCHES)
    if _usable(path):
        return path
    return synthesize(path, n_sequences=DEFAULT_SEQUENCES, n_patches=DEFAULT_PATCHES, seed=DEFAULT_SEED,
                      progress=progress, tasks=tasks)
