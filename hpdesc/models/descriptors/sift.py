"""SIFT baseline descriptor computed by OpenCV on the whole patch (no detection, no orientation)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from hpdesc.errors import ParameterError
from hpdesc.params import check_bool, check_input_shape, check_int
from hpdesc.pixels import quantise

SIFT_DIM = 128
_SYMBOLIC_ERROR = (
    "the 'sift' descriptor runs OpenCV on numpy arrays and cannot be used inside a symbolic or "
    "compiled Keras graph; call hpdesc.models.numpy_compute(model)(patches) or "
    "model.predict(patches) instead"
)


@keras.saving.register_keras_serializable(package="hpdesc")
class SiftDescriptor(keras.Model):
    """OpenCV SIFT of the whole patch: one keypoint at the centre, angle 0, window = the patch.

    This is numpy code, not a Keras graph: use :meth:`compute` (or ``predict``, which calls it).
    Calling the model on eager tensors also works; inside a traced / compiled function (or on a
    ``keras.Input``) it raises a ``TypeError``. It has no weights, so it is never trained.

    Shape:
        input ``(B, H, W, 1)`` float32 in [0, 1] -> output ``(B, 128)`` float32, unit L2 norm
        (zero for a textureless patch).
    """

    def __init__(self, input_shape=(32, 32, 1), root: bool = False, **kwargs):
        kwargs.setdefault("name", "sift")
        super().__init__(**kwargs)
        self.patch_shape = tuple(int(s) for s in input_shape)
        self.root = bool(root)

    def build(self, input_shape=None):
        self.built = True

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

    def call(self, inputs):
        try:
            array = ops.convert_to_numpy(inputs)
        except Exception as exc:  # symbolic tensor / tracer: no values to hand to OpenCV
            raise TypeError(_SYMBOLIC_ERROR) from exc
        return ops.convert_to_tensor(self.compute(array))

    def compute_output_spec(self, *args, **kwargs):
        raise TypeError(_SYMBOLIC_ERROR)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Numpy prediction in batches (``batch_size`` defaults to 1024); same as :meth:`compute`."""
        x = np.asarray(x)
        step = batch_size or 1024
        parts = [self.compute(x[i:i + step]) for i in range(0, len(x), step)]
        return np.concatenate(parts) if parts else np.zeros((0, SIFT_DIM), np.float32)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "input_shape": list(self.patch_shape), "root": self.root}


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
