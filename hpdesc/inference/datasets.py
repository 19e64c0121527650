"""Which patch dataset and which of its sequences a command works on (the embedded one by default)."""

from __future__ import annotations

from pathlib import Path

from hpdesc.errors import UsageError
from hpdesc.progress import Reporter, steps


def default_data_path(reporter: Reporter | None = None) -> Path:
    """The embedded dataset (built and cached on first use; ``reporter`` draws the build's bar)."""
    from hpdesc.benchmark.tasks import build_tasks
    from hpdesc.data import cache

    update = steps(reporter, "building the embedded dataset") if reporter is not None else None
    try:
        return Path(cache.default_dataset(progress=update, tasks=build_tasks))
    finally:
        if reporter is not None:
            reporter.done()


def open_data(data, reporter: Reporter | None = None):
    """``data`` (a path) opened as a PatchDataset; None: the embedded dataset."""
    from hpdesc.data.store import open_dataset

    return open_dataset(Path(data) if data is not None else default_data_path(reporter))


def split_sequences(ds, split: str | None) -> list[str]:
    """All sequences of ``ds``, or the test sequences of ``split``; none is a UsageError."""
    seqs = list(ds.sequences) if split is None else list(ds.split(split).get("test", []))
    if not seqs:
        raise UsageError(f"{ds.path}: split {split!r} has no test sequences")
    return seqs


__all__ = ["default_data_path", "open_data", "split_sequences"]
