"""Run a fully convolutional denoiser (trained on 32x32 patches) over a whole image, in tiles.

The model is rebuilt with a ``(None, None, C)`` input and the trained weights (Keras' own
``clone_model``), then run on overlapping square windows of :data:`WINDOW` pixels whose
:data:`MARGIN`-pixel rim is dropped (wider than DnCNN-17's receptive radius of 17 pixels), so the
result does not depend on where tiles fall and memory stays bounded on large images. One window
size means one compiled shape. Image borders are mirrored (reflect-101) to fill the windows.
"""

from __future__ import annotations

import numpy as np

from hpdesc.data.batches import to_float, to_uint8
from hpdesc.inference.predict import batch_fn

FULLY_CONVOLUTIONAL = ("dncnn", "unet", "ffdnet")
"""Denoisers (by registry name) that can run on any image size: convolutions, pooling, upsampling."""
WINDOW = 320
"""Side of one tile fed to the network (divisible by 32, so U-Net pooling and FFDNet's
pixel-unshuffle see whole cells)."""
MARGIN = 48
"""Rim of each window computed but not kept."""
TILE_BATCH = 4


def any_size_model(model):
    """``model`` rebuilt for ``(None, None, C)`` inputs with the same weights."""
    import keras

    channels = int(model.inputs[0].shape[-1])
    clone = keras.models.clone_model(model, input_tensors=keras.Input((None, None, channels)))
    clone.set_weights(model.get_weights())
    return clone


class ImageDenoiser:
    """``uint8 (H, W) -> uint8 (H, W)`` through a fully convolutional denoiser, tile by tile."""

    def __init__(self, model):
        self.model = any_size_model(model)
        self._run = batch_fn(self.model, pad_to=None)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        img = np.asarray(image)
        h, w = img.shape
        core = WINDOW - 2 * MARGIN
        ny, nx = -(-h // core), -(-w // core)
        pad = ((MARGIN, ny * core - h + MARGIN), (MARGIN, nx * core - w + MARGIN))
        big = np.pad(img, pad, mode="reflect") if min(h, w) > 1 else np.pad(img, pad, mode="edge")
        spots = [(y * core, x * core) for y in range(ny) for x in range(nx)]
        out = np.empty((ny * core, nx * core), np.uint8)
        for lo in range(0, len(spots), TILE_BATCH):
            part = spots[lo:lo + TILE_BATCH]
            windows = np.stack([big[y:y + WINDOW, x:x + WINDOW] for y, x in part])
            den = to_uint8(self._run(to_float(windows)))
            for (y, x), d in zip(part, den.reshape(len(part), WINDOW, WINDOW)):
                out[y:y + core, x:x + core] = d[MARGIN:MARGIN + core, MARGIN:MARGIN + core]
        return out[:h, :w]


__all__ = ["FULLY_CONVOLUTIONAL", "ImageDenoiser", "MARGIN", "WINDOW", "any_size_model"]
