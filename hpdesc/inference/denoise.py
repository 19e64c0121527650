"""Denoising a dataset's noisy patches: the ``hpdesc.denoised`` file, and PSNR against the clean patches."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from hpdesc.inference.pipeline import Pipeline
from hpdesc.progress import Reporter


def _psnr_db(mse: float) -> float:
    """Peak signal-to-noise ratio (dB) of uint8 data with mean squared error ``mse``."""
    return float("inf") if mse == 0 else round(float(10.0 * np.log10(255.0 ** 2 / mse)), 3)


class Meters:
    """Several meters fed the same patches (``add(clean, noisy, denoised, sequence)``)."""

    def __init__(self, *meters):
        self.meters = [m for m in meters if m is not None]

    def add(self, clean, noisy, denoised, sequence: str | None = None) -> None:
        for m in self.meters:
            m.add(clean, noisy, denoised, sequence=sequence)


class PsnrMeter:
    """Accumulates squared errors so PSNR over many sequences is one number."""

    def __init__(self):
        self.se = {"noisy": 0.0, "denoised": 0.0}
        self.n = 0

    def add(self, clean: np.ndarray, noisy: np.ndarray, denoised: np.ndarray, sequence: str | None = None) -> None:
        c = clean.astype(np.float64)
        self.se["noisy"] += float(np.sum((noisy.astype(np.float64) - c) ** 2))
        self.se["denoised"] += float(np.sum((denoised.astype(np.float64) - c) ** 2))
        self.n += c.size

    def result(self) -> dict:
        """``{"noisy": dB, "denoised": dB}`` against the clean patches (empty before any ``add``)."""
        return {k: _psnr_db(se / self.n) for k, se in self.se.items()} if self.n else {}


def _denoised_sequences(pipe: Pipeline, ds, sequences: Sequence[str], meter: PsnrMeter,
                        reporter: Reporter) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield ``(sequence, denoised, clean)`` uint8 ``(N, 16, 32, 32)``, adding each to ``meter``."""
    for s in sequences:
        noisy = ds.patches(s, kind="noisy")
        clean = ds.patches(s, kind="clean")
        den = pipe.denoise(noisy)
        meter.add(clean, noisy, den)
        reporter.advance(1)
        yield s, den, clean


def denoising_psnr(denoiser, ds, sequences: Sequence[str], reporter: Reporter | None = None) -> dict:
    """PSNR (dB) of noisy and denoised vs clean over ``sequences`` (nothing written)."""
    pipe = Pipeline(denoiser, None)
    meter = PsnrMeter()
    reporter = reporter or Reporter()
    reporter.start("denoising the test sequences", len(sequences))
    for _ in _denoised_sequences(pipe, ds, sequences, meter, reporter):
        pass
    reporter.done()
    return meter.result()


def denoising_table(denoiser, ds, sequences: Sequence[str], name: str, split: str | None = None,
                    reporter: Reporter | None = None, ssim: bool = True, psnr_meter: PsnrMeter | None = None):
    """The denoising table of ``denoiser`` (a model, None = identity) over ``sequences`` (nothing written).

    Returns a :class:`hpdesc.benchmark.denoising.DenoisingResult` labelled ``name``: PSNR / SSIM of
    the noisy and denoised patches against clean, per level, sequence type and mean.
    ``psnr_meter``: also fed every sequence (the one-number PSNR of a run).
    """
    from hpdesc.benchmark.denoising import DenoisingMeter

    pipe = Pipeline(denoiser, None)
    meter = DenoisingMeter(ssim=ssim)
    both = Meters(meter, psnr_meter)
    reporter = reporter or Reporter()
    sequences = list(sequences)
    reporter.start(f"denoising table: {name}", len(sequences))
    for s in sequences:
        noisy = ds.patches(s, kind="noisy")
        clean = ds.patches(s, kind="clean")
        both.add(clean, noisy, pipe.denoise(noisy), sequence=s)
        reporter.advance(1)
    reporter.done()
    return table_result(meter, name, ds, split)


def baseline_table_rows(model, ds, sequences: Sequence[str], name: str, split: str | None,
                        reporter: Reporter | None = None, cache=True) -> dict:
    """The denoising-table rows of a baseline denoiser, computed once per dataset, split and settings.

    A weightless denoiser (nlmeans, gaussian, a plugin's numpy filter) gives the same table for
    every run on the same data, so a sweep's runs share it through the benchmark cache (key: the
    dataset's uid, the sequences and their sizes, the denoiser's config and version, hpdesc's
    version). Models with weights, and datasets without a uid, are always computed.
    """
    import json

    from hpdesc import __version__
    from hpdesc.benchmark import cache as _cache
    from hpdesc.models.denoisers.classical import NumpyDenoiser

    sequences = list(sequences)
    cdir = _cache.cache_dir(cache) if isinstance(model, NumpyDenoiser) and ds.uid else None
    key = None
    if cdir is not None:
        from hpdesc import registry

        raw = json.dumps(["denoising-table", ds.uid, split, sequences, [ds.count(s) for s in sequences], name,
                          model.get_config(), registry.get("denoiser", name).version, __version__],
                         sort_keys=True, default=str)
        key = "denoising-" + hashlib.sha256(raw.encode()).hexdigest()
        hit = _cache.get(cdir, key)
        if hit is not None:
            return hit
    rows = denoising_table(model, ds, sequences, name, split, reporter).rows
    if key is not None:
        _cache.put(cdir, key, rows)
    return rows


def table_result(meter, name: str, ds, split: str | None):
    """A :class:`~hpdesc.benchmark.denoising.DenoisingResult` from a filled DenoisingMeter."""
    from hpdesc.benchmark.denoising import DenoisingResult

    return DenoisingResult(name, str(Path(ds.path).resolve()), split, meter.result())


def denoised_config(ds, split: str | None, denoiser: str | None, run_dir: str | None,
                    run_denoiser: str | None = None) -> dict:
    """The ``config`` attribute of a denoised file: the dataset, the denoiser (its component name:
    ``denoiser`` picked by name, else ``run_denoiser``, the run's), the run."""
    return {"dataset": str(Path(ds.path).resolve()), "dataset_uid": ds.uid, "run_dir": run_dir,
            "run": Path(run_dir).name if run_dir else None,
            "denoiser": denoiser or run_denoiser or "run", "input": "noisy", "split": split, "psnr": {}}


def write_denoised_dataset(pipe: Pipeline, ds, sequences: Sequence[str], out, config: dict,
                           reporter: Reporter | None = None, splits: dict | None = None) -> dict:
    """Denoise ``sequences`` of ``ds`` into the ``hpdesc.denoised`` file ``out`` (atomic).

    The clean patches are copied beside the denoised ones; ``config["psnr"]`` is set to the PSNR
    over all sequences before the file is closed, and returned.
    """
    from hpdesc.data.denoised import write_denoised

    reporter = reporter or Reporter()
    sequences = list(sequences)
    meter = PsnrMeter()
    reporter.start(f"denoising {len(sequences)} sequences", len(sequences))

    def items():
        yield from _denoised_sequences(pipe, ds, sequences, meter, reporter)
        config["psnr"] = meter.result()  # stored after the last item

    write_denoised(out, sequences, [ds.count(s) for s in sequences], items(), config, splits=splits)
    reporter.done()
    return config["psnr"]


__all__ = ["Meters", "PsnrMeter", "denoised_config", "denoising_psnr", "denoising_table", "table_result", "write_denoised_dataset"]
