"""Inference: noisy patches -> denoiser -> descriptor, over whole sequences of a dataset."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from hpdesc.data.batches import N_IMAGES, to_float, to_uint8


def batch_fn(model, pad_to: int | None = 256) -> Callable[[np.ndarray], np.ndarray]:
    """A numpy -> numpy function for ``model`` (its numpy ``compute`` for sift-like models).

    Short batches are zero-padded to ``pad_to`` rows so the compiled predict function sees one
    shape (no retracing for the last batch of every sequence). On JAX (one device) the model runs
    as one jitted ``stateless_call`` (:func:`hpdesc.training.fast.predict_fn`); elsewhere through
    ``predict_on_batch`` (on TensorFlow as fast as a ``tf.function`` call, docs/performance.md).
    """
    from keras import ops

    from hpdesc.models import numpy_compute
    from hpdesc.training.fast import predict_fn

    compute = numpy_compute(model)
    if compute is not None:
        return lambda x: np.asarray(compute(x), dtype=np.float32)
    predict = predict_fn(model) or model.predict_on_batch

    def run(x):
        n = len(x)
        if pad_to and n < pad_to:
            x = np.concatenate([x, np.zeros((pad_to - n,) + x.shape[1:], x.dtype)])
        out = predict(x)
        return np.asarray(ops.convert_to_numpy(out), dtype=np.float32)[:n]

    return run


def is_identity(model) -> bool:
    """True for a model without weights whose layers are only Input/Identity (skip computing it)."""
    if model is None:
        return True
    if getattr(model, "weights", None):
        return False
    names = {type(layer).__name__ for layer in getattr(model, "layers", [])}
    return bool(names) and names <= {"InputLayer", "Identity"}


class Pipeline:
    """``noisy uint8 -> denoiser -> descriptor``; either model may be None (skipped)."""

    def __init__(self, denoiser=None, descriptor=None, batch_size: int = 256):
        self.denoiser = None if is_identity(denoiser) else denoiser
        self.descriptor = descriptor
        self.batch_size = batch_size
        self._den = batch_fn(self.denoiser) if self.denoiser is not None else None
        self._desc = batch_fn(descriptor) if descriptor is not None else None

    @property
    def dim(self) -> int:
        if self.descriptor is None:
            raise ValueError("no descriptor")
        return int(self._desc(np.zeros((2, 32, 32, 1), np.float32)).shape[-1])

    def denoise(self, patches: np.ndarray) -> np.ndarray:
        """uint8 ``(..., 32, 32)`` -> uint8 same shape."""
        if self._den is None:
            return patches
        flat = patches.reshape((-1, 32, 32))
        out = np.empty_like(flat)
        for lo in range(0, len(flat), self.batch_size):
            out[lo:lo + self.batch_size] = to_uint8(self._den(to_float(flat[lo:lo + self.batch_size])))
        return out.reshape(patches.shape)

    def describe(self, patches: np.ndarray, denoise: bool = True) -> np.ndarray:
        """uint8 ``(N, 16, 32, 32)`` -> float32 ``(N, 16, D)``.

        Denoised patches are quantised to uint8 before description, exactly as a denoised file
        stores them, so describing a denoised file gives the same numbers.
        """
        if denoise:
            patches = self.denoise(patches)
        flat = patches.reshape((-1, 32, 32))
        parts = [self._desc(to_float(flat[lo:lo + self.batch_size])) for lo in range(0, len(flat), self.batch_size)]
        out = np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)
        return out.reshape(patches.shape[:-2] + (out.shape[-1],))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) between two uint8 arrays (mean squared error over all)."""
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


class PsnrMeter:
    """Accumulates squared errors so PSNR over many sequences is one number."""

    def __init__(self):
        self.se = {"noisy": 0.0, "denoised": 0.0}
        self.n = 0

    def add(self, clean: np.ndarray, noisy: np.ndarray, denoised: np.ndarray) -> None:
        c = clean.astype(np.float64)
        self.se["noisy"] += float(np.sum((noisy.astype(np.float64) - c) ** 2))
        self.se["denoised"] += float(np.sum((denoised.astype(np.float64) - c) ** 2))
        self.n += c.size

    def result(self) -> dict:
        if not self.n:
            return {}
        out = {}
        for k, se in self.se.items():
            mse = se / self.n
            out[k] = float("inf") if mse == 0 else round(float(10.0 * np.log10(255.0 ** 2 / mse)), 3)
        return out


CHUNK_ROWS = 2048  # patch rows (x 16 images, 16 KiB each) read from HDF5 at a time when describing


def describe_sequences(pipe: Pipeline, ds, sequences: Sequence[str], kind: str = "noisy",
                       psnr_meter: PsnrMeter | None = None, progress=None, chunk_rows: int = CHUNK_ROWS):
    """Yield ``(sequence, (N, 16, D))`` for each sequence (denoising ``kind`` patches first).

    Patches are streamed from HDF5 ``chunk_rows`` rows at a time, so memory holds one chunk of
    patches plus one sequence's descriptors, whatever the size of the dataset (docs/scaling.md).
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
            if psnr_meter is not None and kind == "noisy" and pipe.denoiser is not None:
                psnr_meter.add(ds.array("clean")[lo:hi], patches, den)
            parts.append(pipe.describe(den, denoise=False))
        desc = parts[0] if len(parts) == 1 else (np.concatenate(parts) if parts else
                                                  np.zeros((0, N_IMAGES, pipe.dim), np.float32))
        if progress:
            progress(i + 1, total)
        yield s, desc


__all__ = ["Pipeline", "PsnrMeter", "batch_fn", "describe_sequences", "is_identity", "psnr", "N_IMAGES"]
