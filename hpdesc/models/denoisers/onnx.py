"""Any denoiser exported to ONNX (a PyTorch DnCNN, hpdesc's own ``hpdesc export``), run by onnxruntime."""

from __future__ import annotations

import keras
import numpy as np

from hpdesc.errors import DataFormatError
from hpdesc.models.onnxrt import OnnxModel, load
from hpdesc.params import check_input_shape


@keras.saving.register_keras_serializable(package="hpdesc")
class OnnxDenoiser(OnnxModel):
    """An ONNX denoiser: patches ``(B, H, W, 1)`` in [0, 1] -> the same shape in [0, 1].

    The output must have the input's shape (in the model's layout and size); it is mapped back
    from ``input_range`` to [0, 1], clipped, and resized back if the model took another size.
    Not a Keras graph; no weights, so never trained (a fixed input for a trained descriptor).
    """

    role = "denoiser"

    def compute(self, patches) -> np.ndarray:
        x, squeeze = self.as_batch(patches)
        sess = self.session
        out, size = sess.run(x)
        want = (len(x), 1, *size) if sess.layout == "NCHW" else (len(x), *size, 1)
        if tuple(out.shape) != want:
            raise DataFormatError(f"{self.model_path}: the model's output has shape {tuple(out.shape)} for input "
                                  f"{want}; a denoiser must return its input's shape")
        if sess.layout == "NCHW":
            out = out.transpose(0, 2, 3, 1)
        out = np.clip((out - sess.lo) / (sess.hi - sess.lo), 0.0, 1.0).astype(np.float32)
        out = sess._resize(out, x.shape[1:3])
        return out[..., 0] if squeeze else out


def onnx(input_shape=(32, 32, 1), path: str = "", layout: str = "auto", input_range=(0.0, 1.0),
         provider: str = "auto") -> OnnxDenoiser:
    """Any denoiser exported to ONNX, run by onnxruntime (set denoiser.path=FILE.onnx).

    Parameters as for the ``onnx`` descriptor: ``path`` (required), ``layout`` (``auto``,
    ``NCHW``, ``NHWC``), ``input_range`` (default ``[0, 1]``; the output is read in the same
    range), ``provider`` (``auto``, ``cpu``, ``cuda``). Saved with a run, the ONNX bytes go into
    ``denoiser.keras``.

    Shape:
        input ``(B, H, W, 1)`` in [0, 1] -> output ``(B, H, W, 1)`` in [0, 1].
    """
    shape = check_input_shape(input_shape)
    return load(OnnxDenoiser, shape, path, layout, input_range, provider, name="onnx")
