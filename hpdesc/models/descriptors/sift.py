"""SIFT baseline descriptor computed by OpenCV on the whole patch (no detection, no orientation)."""

from __future__ import annotations

import keras
import numpy as np

from hpdesc.errors import ParameterError
from hpdesc.models.numpy import NumpyModel
from hpdesc.params import check_bool, check_input_shape, check_int
from hpdesc.pixels import quantise

SIFT_DIM = 128


@keras.saving.register_keras_serializable(package="hpdesc")
class SiftDescriptor(NumpyModel):
    """OpenCV SIFT of the whole patch: one keypoint at the centre, angle 0, window = the patch.

    A :class:`~hpdesc.models.numpy.NumpyModel`: numpy code, not a Keras graph (use :meth:`compute`,
    or ``predict``, which calls it); no weights, so it is never trained.

    Shape:
        input ``(B, H, W, 1)`` float32 in [0, 1] -> output ``(B, 128)`` float32, unit L2 norm
        (zero for a textureless patch).
    """

    predict_batch = 1024

    def __init__(self, input_shape=(32, 32, 1), root: bool = False, **kwargs):
        kwargs.setdefault("name", "sift")
        super().__init__(input_shape, **kwargs)
        self.root = bool(root)

    def compute(self, patches) -> np.ndarray:
        """Describe a numpy batch ``(B, H, W, 1)`` in [0, 1]; returns float32 ``(B, 128)``."""
        import cv2  # noqa: PLC0415 - only needed when SIFT is actually computed

        patches = np.asarray(patches, dtype=np.float32)
        if patches.ndim == 3:
            patches = patches[..., None]
        if patches.ndim != 4 or patches.shape[-1] != 1:
            raise ValueError(f"sift expects patches of shape (B, H, W, 1), got {patches.shape}")
        h, w = patches.shape[1:3]
        images = quantise(patches[..., 0])
        # OpenCV's descriptor window is 4 x 4 bins of 3 * (size / 2) pixels: 6 * size wide.
        keypoint = [cv2.KeyPoint((w - 1) / 2.0, (h - 1) / 2.0, min(h, w) / 6.0, 0.0)]
        extractor = cv2.SIFT_create()
        out = np.zeros((len(images), SIFT_DIM), np.float32)
        for i, image in enumerate(images):
            kept, desc = extractor.compute(np.ascontiguousarray(image), keypoint)
            if desc is None or len(kept) != 1:
                raise RuntimeError(f"OpenCV SIFT dropped the centre keypoint of patch {i}")
            out[i] = desc[0]
        if self.root:
            # RootSIFT (Arandjelovic & Zisserman 2012): L1-normalise, then square root (unit L2).
            out = np.sqrt(out / np.maximum(out.sum(axis=1, keepdims=True), 1e-12))
        else:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out.astype(np.float32)

    def params(self) -> dict:
        return {"root": self.root}


def sift(input_shape=(32, 32, 1), dim: int = 128, root: bool = False) -> SiftDescriptor:
    """SIFT baseline (OpenCV) on the whole patch, no orientation; RootSIFT with ``root=true``.

    One keypoint at the patch centre whose 4x4-cell descriptor window spans the patch, angle 0,
    computed on the patch quantised to uint8. Output is L2-normalised (RootSIFT is unit norm by
    construction). Always 128-d: ``dim`` is accepted (the contract passes it) but ignored.
    Not a Keras graph: see :class:`SiftDescriptor` and ``hpdesc.models.numpy_compute``.

    Shape:
        input ``(B, H, W, 1)`` in [0, 1] -> output ``(B, 128)``.
    """
    shape = check_input_shape(input_shape, minimum=8)
    if shape[-1] != 1:
        raise ParameterError(f"parameter 'input_shape' must have 1 channel for sift, got {shape!r}")
    check_int("dim", dim)
    check_bool("root", root)
    model = SiftDescriptor(input_shape=shape, root=root, name="sift")
    model.build((None, *shape))
    return model
