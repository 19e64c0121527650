"""Run a fully convolutional denoiser (trained on 32x32 patches) over a whole image, in tiles.

The model is rebuilt with a ``(None, None, C)`` input and the trained weights (Keras' own
``clone_model``). An image up to :data:`MAX_PIXELS` (with its rim) runs in one pass: mirrored
(reflect-101) by :data:`MARGIN` pixels on each side and up to a multiple of :data:`ROUND` (so U-Net
pooling and FFDNet's pixel-unshuffle see whole cells, and images of similar size share one
compiled shape). A larger image runs in overlapping square windows of :data:`WINDOW` pixels whose
:data:`MARGIN`-pixel rim is dropped (wider than DnCNN-17's receptive radius of 17 pixels), so
memory stays bounded and the result does not depend on where tiles fall.
"""

from __future__ import annotations

import numpy as np

from hpdesc.data.batches import to_float, to_uint8
from hpdesc.inference.predict import batch_fn

WINDOW = 1024
"""Side of one tile of a large image (a multiple of :data:`ROUND`)."""
MARGIN = 48
"""Rim of each window (and of a single pass) computed but not kept."""
ROUND = 64
"""A single pass pads the image to a multiple of this."""
MAX_PIXELS = 1 << 21
"""Largest padded image run in one pass (2 Mpx: ~0.5 GB per 64-channel float32 activation)."""


def is_fully_convolutional(name: str) -> bool:
    """Whether the registry denoiser ``name`` declares it runs on any image size (:func:`hpdesc.models.fully_convolutional`)."""
    from hpdesc import registry
    from hpdesc.models import fully_convolutional

    return fully_convolutional(registry.load("denoiser", name))


def fully_convolutional_names() -> list[str]:
    """The installed denoisers that declare it (for messages)."""
    from hpdesc import registry
    from hpdesc.errors import HpdescError

    out = []
    for name in registry.names("denoiser"):
        try:
            if is_fully_convolutional(name):
                out.append(name)
        except HpdescError:
            continue
    return out


def any_size_model(model):
    """``model`` rebuilt for ``(None, None, C)`` inputs with the same weights."""
    import keras

    channels = int(model.inputs[0].shape[-1])
    clone = keras.models.clone_model(model, input_tensors=keras.Input((None, None, channels)))
    clone.set_weights(model.get_weights())
    return clone


class ImageDenoiser:
    """``uint8 (H, W) -> uint8 (H, W)`` through a fully convolutional denoiser (one pass, or tiles)."""

    def __init__(self, model):
        self.model = any_size_model(model)
        self._run = batch_fn(self.model, pad_to=None)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        img = np.asarray(image)
        h, w = img.shape
        H, W = (-(-(n + 2 * MARGIN) // ROUND) * ROUND for n in (h, w))
        if H * W <= MAX_PIXELS:
            big = np.pad(img, ((MARGIN, H - h - MARGIN), (MARGIN, W - w - MARGIN)), mode="reflect")
            return to_uint8(self._run(to_float(big[None])))[0, MARGIN:MARGIN + h, MARGIN:MARGIN + w]
        return self._tiles(img)

    def _tiles(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape
        core = WINDOW - 2 * MARGIN
        ny, nx = -(-h // core), -(-w // core)
        pad = ((MARGIN, ny * core - h + MARGIN), (MARGIN, nx * core - w + MARGIN))
        big = np.pad(img, pad, mode="reflect")
        spots = [(y * core, x * core) for y in range(ny) for x in range(nx)]
        out = np.empty((ny * core, nx * core), np.uint8)
        for y, x in spots:
            den = to_uint8(self._run(to_float(big[None, y:y + WINDOW, x:x + WINDOW])))[0]
            out[y:y + core, x:x + core] = den[MARGIN:MARGIN + core, MARGIN:MARGIN + core]
        return out[:h, :w]


class NumpyImageDenoiser:
    """``uint8 (H, W) -> uint8 (H, W)`` through a numpy denoiser's ``filter`` (nlmeans, median, bm3d, ...)."""

    def __init__(self, model):
        self.model = model

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.filter(np.ascontiguousarray(image, dtype=np.uint8)), np.uint8)


def image_denoiser_for(model, name: str | None):
    """A whole-image denoiser for ``model`` (registry ``name``), or None when it only runs on patches:
    the classical denoisers (:class:`~hpdesc.models.denoisers.classical.NumpyDenoiser`, whose
    ``filter`` takes a whole image) and the denoisers that declare themselves fully convolutional."""
    from hpdesc.models.denoisers.classical import NumpyDenoiser

    if isinstance(model, NumpyDenoiser):
        return NumpyImageDenoiser(model)
    if name is not None and is_fully_convolutional(name):
        return ImageDenoiser(model)
    return None


__all__ = ["ImageDenoiser", "NumpyImageDenoiser", "fully_convolutional_names", "image_denoiser_for",
           "is_fully_convolutional", "MARGIN", "MAX_PIXELS", "ROUND", "WINDOW", "any_size_model"]
