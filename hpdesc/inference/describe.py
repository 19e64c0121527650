"""Describing a dataset into a descriptor file (``hpdesc.descriptors``), streamed from HDF5.

Used by ``hpdesc describe``, by ``hpdesc benchmark --run`` and by training's benchmark step. A
run's descriptors are cached (in the run directory, else the benchmark cache) and rebuilt only
when the file's ``config`` differs. ``run`` arguments are run directories
(:class:`hpdesc.training.run.RunDir`: ``path``, ``model(stage)``, ``descriptors``); this module
only reads them.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from hpdesc.data.batches import N_IMAGES
from hpdesc.benchmark.denoising import DenoisingMeter
from hpdesc.inference.pipeline import Pipeline, is_identity
from hpdesc.progress import Reporter

CHUNK_ROWS = 2048  # patch rows (x 16 images, 16 KiB each) read from HDF5 at a time when describing


def describe_sequences(pipe: Pipeline, ds, sequences: Sequence[str], kind: str = "noisy",
                       meter: DenoisingMeter | None = None, progress=None, chunk_rows: int = CHUNK_ROWS):
    """Yield ``(sequence, (N, 16, D))`` for each sequence (denoising ``kind`` patches first).

    Patches are streamed from HDF5 ``chunk_rows`` rows at a time, so memory holds one chunk of
    patches plus one sequence's descriptors, whatever the size of the dataset (docs/scaling.md).
    ``meter``: also fed the clean, noisy and denoised patches (the denoising table on the way).
    """
    total = len(sequences)
    chunk_rows = max(1, int(chunk_rows))
    for i, s in enumerate(sequences):
        r = ds.rows(s)
        parts = []
        for lo in range(r.start, r.stop, chunk_rows):
            hi = min(r.stop, lo + chunk_rows)
            patches = ds.array(kind)[lo:hi]
            den = pipe.denoise(patches) if kind == "noisy" else patches
            if meter is not None and kind == "noisy" and pipe.denoiser is not None:
                meter.add(ds.array("clean")[lo:hi], patches, den, sequence=s)
            parts.append(pipe.describe(den, denoise=False))
        desc = parts[0] if len(parts) == 1 else (np.concatenate(parts) if parts else
                                                  np.zeros((0, N_IMAGES, pipe.dim), np.float32))
        if progress:
            progress(i + 1, total)
        yield s, desc


def write_described(pipe: Pipeline, ds, sequences, out, config: dict, reporter: Reporter | None = None,
                    kind: str = "noisy", meter: DenoisingMeter | None = None) -> Path:
    """Describe ``sequences`` of ``ds`` into the descriptor file ``out`` (atomic, streamed)."""
    from hpdesc.data.descfile import write_descriptors

    reporter = reporter or Reporter()
    sequences = list(sequences)
    counts = [ds.count(s) for s in sequences]
    reporter.start(f"describing {len(sequences)} sequences", len(sequences))

    def tick(done, total):
        reporter.advance(1)

    items = describe_sequences(pipe, ds, sequences, kind=kind, meter=meter, progress=tick)
    write_descriptors(out, sequences, items, config, counts=counts, dim=pipe.dim)
    reporter.done()
    return Path(out)


def descriptor_config(ds, split: str | None, descriptor: str, denoiser: str | None = None, *,
                      kind: str = "noisy", denoised: bool = False, run=None, from_run=(),
                      **extra) -> dict:
    """The ``config`` attribute of a descriptor file hpdesc makes: what made it, from which patches.

    ``descriptor`` / ``denoiser``: component names (``denoiser`` None: none in the pipeline);
    ``denoised``: whether that denoiser changes the patches (False for the identity); ``from_run``:
    the names taken from ``run``'s models. ``input`` records the patches the descriptor saw:
    ``clean``, ``noisy``, or ``denoised``. Reports label the file from these
    (:func:`hpdesc.data.descfile.descriptor_label`).
    """
    from hpdesc.data.descfile import components

    if kind == "clean":  # the denoiser runs on noisy patches only (describe_sequences)
        denoiser, denoised = None, False
    mine = [n for n in (denoiser, descriptor) if n and n in from_run]
    return {
        "dataset": str(Path(ds.path).resolve()), "dataset_uid": ds.uid, "split": split,
        "sequences": "test" if split else "all", "input": "denoised" if denoised else kind,
        "descriptor": components(denoiser, descriptor), "denoiser_name": denoiser, "descriptor_name": descriptor,
        "run": run.path.name if run is not None else None,
        "run_dir": str(run.path.resolve()) if run is not None else None, "from_run": mine, **extra,
    }


def models_mtime(run, stages=("denoiser", "descriptor")) -> list[float]:
    """The modification times of a run's saved models of ``stages`` (those that exist): a cache key part.

    The one spelling of it (a list, also for one model), so every descriptor file a run's models
    made is keyed the same way.
    """
    return [round(run.model(s).stat().st_mtime, 3) for s in stages if run.model(s).exists()]


def run_descriptor_config(run, cfg, ds, split: str, denoised: bool) -> dict:
    """The ``config`` attribute of a run's descriptor file (also its cache key)."""
    return descriptor_config(
        ds, split, cfg.descriptor.name, cfg.denoiser.name, denoised=denoised, run=run,
        from_run=(cfg.denoiser.name, cfg.descriptor.name),
        denoiser_component=cfg.denoiser.to_dict(), descriptor_component=cfg.descriptor.to_dict(),
        models_mtime=models_mtime(run))


def cached_ok(path: Path, config: dict) -> bool:
    """True when ``path`` is a descriptor file made with exactly ``config``."""
    if not path.exists():
        return False
    try:
        from hpdesc.data.descfile import open_descriptors

        with open_descriptors(path) as d:
            return d.config == json.loads(json.dumps(config, sort_keys=True, default=str))
    except Exception:  # noqa: BLE001 - any unreadable cache is simply rebuilt
        return False


def run_descriptors_path(run, split: str, trained_split: str, data_uid: str | None = None) -> Path:
    """Where a run's descriptors of ``split`` are kept: in the run directory, if it can be written
    and they describe the run's own dataset.

    Descriptors of another dataset (``data_uid``: its uid, given when it is not the run's) never
    replace the run's own ``descriptors_test.h5``: they are cached per dataset in the benchmark
    cache, as are the descriptors of a run directory that cannot be written (another user's, a
    read-only mount): ``runs/<run name>-<hash of its path>/``.
    """
    name = run.descriptors.name if split == trained_split else f"descriptors_{split}_test.h5"
    if data_uid is None and os.access(run.path, os.W_OK):
        return run.path / name
    from hpdesc.benchmark.cache import cache_dir

    key = hashlib.sha256(str(run.path.resolve()).encode()).hexdigest()[:16]
    if data_uid is not None:
        name = f"descriptors_{split}_test-data-{data_uid[:16]}.h5"
    return cache_dir(True) / "runs" / f"{run.path.name}-{key}" / name


def _is_run_data(cfg, ds) -> bool:
    """Whether ``ds`` is the dataset the run trained on (the same file)."""
    from hpdesc.atomic import same_file

    return bool(cfg.data.path) and Path(cfg.data.path).exists() and same_file(cfg.data.path, ds.path)


def describe_run_split(run, cfg, denoiser, descriptor, ds, split: str, out: Path | None = None,
                       reporter: Reporter | None = None) -> Path:
    """Describe the test sequences of ``split`` with a run's models; returns the descriptor file.

    ``cfg``: the run's resolved configuration; ``denoiser`` / ``descriptor``: its loaded models.
    """
    test = ds.split(split).get("test", [])
    if out is None:
        out = run_descriptors_path(run, split, cfg.data.split, None if _is_run_data(cfg, ds) else (ds.uid or hashlib.sha256(str(Path(ds.path).resolve()).encode()).hexdigest()))
    out = Path(out)
    config = run_descriptor_config(run, cfg, ds, split, denoised=not is_identity(denoiser))
    if not cached_ok(out, config):
        write_described(Pipeline(denoiser, descriptor), ds, test, out, config, reporter)
    return out


__all__ = ["CHUNK_ROWS", "cached_ok", "describe_run_split", "describe_sequences", "descriptor_config", "models_mtime",
           "run_descriptor_config", "run_descriptors_path", "write_described"]
