"""Denoising a dataset's noisy patches: the ``hpdesc.denoised`` file, and PSNR against the clean patches."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from hpdesc.benchmark.denoising import DenoisingMeter
from hpdesc.inference.pipeline import Pipeline
from hpdesc.progress import Reporter


def _denoised_sequences(pipe: Pipeline, ds, sequences: Sequence[str], meter: DenoisingMeter,
                        reporter: Reporter) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield ``(sequence, denoised, clean)`` uint8 ``(N, 16, 32, 32)``, adding each to ``meter``."""
    for s in sequences:
        noisy = ds.patches(s, kind="noisy")
        clean = ds.patches(s, kind="clean")
        den = pipe.denoise(noisy)
        meter.add(clean, noisy, den, sequence=s)
        reporter.advance(1)
        yield s, den, clean


def denoising_table(denoiser, ds, sequences: Sequence[str], name: str, split: str | None = None,
                    reporter: Reporter | None = None, ssim: bool = True):
    """The denoising table of ``denoiser`` (a model, None = identity) over ``sequences`` (nothing written).

    Returns a :class:`hpdesc.benchmark.denoising.DenoisingResult` labelled ``name``: PSNR / SSIM of
    the noisy and denoised patches against clean, per level, sequence type and mean (whose PSNR is
    the one-number PSNR, :func:`hpdesc.benchmark.denoising.psnr_of`).
    """
    pipe = Pipeline(denoiser, None)
    meter = DenoisingMeter(ssim=ssim)
    reporter = reporter or Reporter()
    sequences = list(sequences)
    reporter.start(f"denoising table: {name}", len(sequences))
    for s in sequences:
        noisy = ds.patches(s, kind="noisy")
        clean = ds.patches(s, kind="clean")
        meter.add(clean, noisy, pipe.denoise(noisy), sequence=s)
        reporter.advance(1)
    reporter.done()
    return table_result(meter, name, ds, split)


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
                           reporter: Reporter | None = None, splits: dict | None = None,
                           meter: DenoisingMeter | None = None, with_clean: bool = True) -> dict:
    """Denoise ``sequences`` of ``ds`` into the ``hpdesc.denoised`` file ``out`` (atomic).

    The clean patches are copied beside the denoised ones; ``config["psnr"]`` is set to the PSNR
    (the denoising table's ``mean`` row: e, h, t images, ``ref`` left out) before the file is
    closed, and returned. ``meter``: the DenoisingMeter fed on the way (default: PSNR only);
    ``with_clean=False``: the denoised patches only.
    """
    from hpdesc.data.denoised import write_denoised

    reporter = reporter or Reporter()
    sequences = list(sequences)
    meter = meter if meter is not None else DenoisingMeter(ssim=False)
    reporter.start(f"denoising {len(sequences)} sequences", len(sequences))

    def items():
        yield from _denoised_sequences(pipe, ds, sequences, meter, reporter)
        config["psnr"] = meter.psnr()  # stored after the last item

    write_denoised(out, sequences, [ds.count(s) for s in sequences], items(), config, splits=splits,
                   with_clean=with_clean)
    reporter.done()
    return config["psnr"]


__all__ = ["denoised_config", "denoising_table", "table_result", "write_denoised_dataset"]
