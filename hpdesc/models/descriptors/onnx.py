"""Any descriptor exported to ONNX (kornia's HardNet / SOSNet / TFeat, another framework's), run by onnxruntime."""

from __future__ import annotations

import keras
import numpy as np

from hpdesc.errors import DataFormatError
from hpdesc.models.onnxrt import OnnxModel, load
from hpdesc.params import check_input_shape, check_int


@keras.saving.register_keras_serializable(package="hpdesc")
class OnnxDescriptor(OnnxModel):
    """An ONNX descriptor network: patches ``(B, H, W, 1)`` in [0, 1] -> ``(B, D)`` float32 as the model returns them.

    Not a Keras graph (:class:`~hpdesc.models.onnxrt.OnnxModel`); no weights, so never trained.
    The output must be 2-D with one row per patch; it is used as returned (kornia's descriptors
    are unit-norm already; TFeat's are not, and hpdesc compares them by L2 distance as they are).
    """

    role = "descriptor"

    def compute(self, patches) -> np.ndarray:
        x, _ = self.as_batch(patches)
        out, _ = self.session.run(x)
        if out.ndim != 2 or out.shape[0] != len(x):
            raise DataFormatError(f"{self.model_path}: the model's output has shape {tuple(out.shape)} for {len(x)} "
                                  "patches; a descriptor must output (B, D) (flatten it before exporting)")
        return out


def onnx(input_shape=(32, 32, 1), dim: int = 128, path: str = "", layout: str = "auto",
         input_range=(0.0, 1.0), provider: str = "auto") -> OnnxDescriptor:
    """Any descriptor exported to ONNX, run by onnxruntime (set descriptor.path=FILE.onnx).

    ``path``: the ``.onnx`` file (required). ``layout``: ``auto`` (read from the input's shape),
    ``NCHW`` or ``NHWC``. ``input_range``: ``[lo, hi]`` the model takes, hpdesc's [0, 1] patches
    mapped linearly onto it (default ``[0, 1]``, what kornia's descriptors take; ``[0, 255]`` for
    a model trained on raw grey levels). ``provider``: ``auto`` (CUDA where onnxruntime has it,
    else CPU), ``cpu`` or ``cuda``. A model with a fixed input size other than the patch's gets
    resized patches. The width is the model's: ``dim`` is accepted (the contract passes it) and
    ignored, like ``sift``'s. Saved with a run, the ONNX bytes go into ``descriptor.keras``.

    Shape:
        input ``(B, H, W, 1)`` in [0, 1] -> output ``(B, D)``, D from the model.
    """
    shape = check_input_shape(input_shape)
    check_int("dim", dim)
    return load(OnnxDescriptor, shape, path, layout, input_range, provider, name="onnx")
