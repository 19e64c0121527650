"""The patch pipeline: noisy uint8 -> denoiser -> uint8 -> descriptor, in batches.

Shared by ``hpdesc describe`` / ``denoise``, training's benchmark step and its descriptor pool.
"""

from __future__ import annotations

import numpy as np

from hpdesc.data.batches import to_float, to_uint8
from hpdesc.inference.predict import batch_fn


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


__all__ = ["Pipeline", "is_identity"]
