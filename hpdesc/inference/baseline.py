"""A weightless baseline denoiser's work, done once per dataset and settings (the benchmark cache).

A weightless denoiser (nlmeans, gaussian, median, a plugin's numpy filter) gives the same output
for every run on the same data, so training's benchmark step and sweeps share it: its denoising
table (:func:`baseline_table_rows`) and its denoised test patches (:func:`baseline_output`, an
``hpdesc.denoised`` file of the denoised patches alone, gzip-compressed like the dataset, that the
run's descriptor then describes) are cached under one key: the
dataset's uid, the split, the sequences and their sizes, the denoiser's name, config and
version, and hpdesc's version. Models with weights, datasets without a uid and ``cache=False``
are always computed (nothing cached).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

from hpdesc.benchmark import cache as _cache
from hpdesc.benchmark.denoising import DenoisingMeter
from hpdesc.inference.denoise import denoised_config, denoising_table, write_denoised_dataset
from hpdesc.inference.pipeline import Pipeline
from hpdesc.progress import Reporter


def _cache_key(model, ds, sequences: list[str], name: str, split: str | None, cache) -> tuple[Path | None, str | None]:
    from hpdesc import __version__, registry
    from hpdesc.models.numpy import NumpyModel

    cdir = _cache.cache_dir(cache) if isinstance(model, NumpyModel) and ds.uid else None
    if cdir is None:
        return None, None
    raw = json.dumps(["denoising-table", ds.uid, split, sequences, [ds.count(s) for s in sequences], name,
                      model.get_config(), registry.get("denoiser", name).version, __version__],
                     sort_keys=True, default=str)
    return cdir, "denoising-" + hashlib.sha256(raw.encode()).hexdigest()


def baseline_table_rows(model, ds, sequences: Sequence[str], name: str, split: str | None,
                        reporter: Reporter | None = None, cache=True) -> dict:
    """The denoising-table rows of a baseline denoiser, computed once per dataset, split and settings."""
    sequences = list(sequences)
    cdir, key = _cache_key(model, ds, sequences, name, split, cache)
    if key is not None:
        hit = _cache.get(cdir, key)
        if hit is not None:
            return hit
    rows = denoising_table(model, ds, sequences, name, split, reporter).rows
    if key is not None:
        _cache.put(cdir, key, rows)
    return rows


def _readable(path: Path, sequences: list[str]) -> bool:
    from hpdesc.data.denoised import open_denoised
    from hpdesc.errors import HpdescError

    if not path.is_file():
        return False
    try:
        with open_denoised(path) as f:
            return all(s in f for s in sequences)
    except (HpdescError, OSError, KeyError, ValueError):
        return False


def baseline_output(model, ds, sequences: Sequence[str], name: str, split: str | None,
                    reporter: Reporter | None = None, cache=True) -> tuple[Path | None, dict]:
    """``(denoised file, table rows)`` of a weightless baseline on ``sequences``, computed once (cached).

    The file holds the denoiser's uint8 output, the bytes the patch pipeline would compute again;
    the table is :func:`baseline_table_rows`' (filled on the same pass). ``(None, {})`` when it
    cannot be cached (a model with weights, a dataset without a uid, ``cache=False``): the caller
    denoises as it goes.
    """
    sequences = list(sequences)
    cdir, key = _cache_key(model, ds, sequences, name, split, cache)
    if key is None:
        return None, {}
    path = cdir / f"{key}.denoised.h5"
    rows = _cache.get(cdir, key)
    if rows is not None and _readable(path, sequences):
        return path, rows
    meter = DenoisingMeter()
    write_denoised_dataset(Pipeline(model, None), ds, sequences, path, denoised_config(ds, split, name, None),
                           reporter, meter=meter, with_clean=False)
    rows = meter.result()
    _cache.put(cdir, key, rows)
    return path, rows


__all__ = ["baseline_output", "baseline_table_rows"]
