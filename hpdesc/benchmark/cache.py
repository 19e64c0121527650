"""Benchmark result cache: one JSON per (descriptors, tasks, protocol, distance, task).

The key hashes the descriptor file's content fingerprint and the task content, so a changed
descriptor file or task set can never return a stale result. Directory: ``$HPDESC_CACHE_DIR``,
else ``benchmark/`` in hpdesc's cache directory (``$HPDESC_HOME``, ``$XDG_CACHE_HOME/hpdesc`` or
``~/.cache/hpdesc``: :func:`hpdesc.data.cache.cache_dir`). Its ``tasks/`` folder keeps the tasks
generated for datasets that store none (:func:`hpdesc.benchmark.tasks.stored_tasks`), ``runs/``
the descriptors of runs whose directory cannot be written (:mod:`hpdesc.inference.describe`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from hpdesc.atomic import write_text_atomic


def cache_dir(setting) -> Path | None:
    """``True`` -> the default directory, a path -> that directory, falsy -> no cache."""
    if not setting:
        return None
    if setting is True:
        env = os.environ.get("HPDESC_CACHE_DIR")
        if env:
            return Path(env)
        from hpdesc.data.cache import cache_dir as hpdesc_cache

        return hpdesc_cache() / "benchmark"
    return Path(setting)


def tasks_dir(setting) -> Path | None:
    """Folder of generated benchmark tasks under the cache directory ``setting`` names (None: none)."""
    root = cache_dir(setting)
    return None if root is None else root / "tasks"


def cache_key(fingerprint: str, tasks_hash: str, protocol: str, distance: str, task: str, version: int) -> str:
    from hpdesc import __version__

    raw = json.dumps([fingerprint, tasks_hash, protocol, distance, task, version, __version__])
    return hashlib.sha256(raw.encode()).hexdigest()


def get(directory: Path, key: str) -> dict | None:
    p = directory / f"{key}.json"
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


def put(directory: Path, key: str, value: dict) -> None:
    try:
        write_text_atomic(directory / f"{key}.json", json.dumps(value))
    except OSError:
        pass  # a cache that cannot be written is only slower
