"""The base of every component computed in numpy instead of a Keras graph (sift, the classical denoisers).

A :class:`NumpyModel` is a weightless ``keras.Model`` (so the registry, the contract checks, run
saving and ``keras.saving.load_model`` treat it like any model) whose work is one numpy method::

    class MyDescriptor(NumpyModel):
        def compute(self, batch: np.ndarray) -> np.ndarray:   # (B, H, W, 1) float32 in [0, 1]
            ...
        def params(self) -> dict:                            # constructor arguments, saved with a run
            return {"size": self.size}

hpdesc runs it by calling ``compute`` (:func:`hpdesc.models.numpy_compute`), never as a compiled
graph; ``predict``, ``predict_on_batch``, ``call`` on eager tensors (a ``TypeError`` on symbolic
ones) and ``get_config`` come with the base. Capabilities are declared, not guessed from names:
a NumpyModel has no weights, so it is never trained (:func:`hpdesc.models.is_trainable`), and
``fully_convolutional`` is False (docs/plugins.md, "Components that are not Keras graphs").
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


class NumpyModel(keras.Model):
    """A weightless model whose :meth:`compute` does the work in numpy (see the module docstring)."""

    fully_convolutional = False  # capability flag: runs on whole images of any size (Keras graphs only)
    predict_batch = 256  # rows per ``compute`` call in :meth:`predict`

    def __init__(self, input_shape=(32, 32, 1), **kwargs):
        super().__init__(**kwargs)
        self.patch_shape = tuple(int(s) for s in input_shape)

    def build(self, input_shape=None):
        self.built = True

    def as_batch(self, patches) -> tuple[np.ndarray, bool]:
        """``(float32 (B, H, W, 1) batch, squeeze)``: a ``(B, H, W)`` batch gains its channel (``squeeze`` True)."""
        x = np.asarray(patches, dtype=np.float32)
        squeeze = x.ndim == 3
        if squeeze:
            x = x[..., None]
        if x.ndim != 4 or x.shape[-1] != 1:
            raise ValueError(f"{self.name} expects patches of shape (B, H, W, 1), got {x.shape}")
        return x, squeeze

    def compute(self, batch: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """The model on a numpy batch ``(B, H, W, 1)`` float32 in [0, 1]."""
        raise NotImplementedError

    def params(self) -> dict:
        """The constructor parameters (besides ``input_shape``), as saved in the model's config."""
        return {}

    def _symbolic_error(self) -> str:
        return (f"{self.name!r} runs numpy code and cannot be used inside a symbolic or compiled Keras "
                "graph; call hpdesc.models.numpy_compute(model)(patches) or model.predict(patches) instead")

    def call(self, inputs):
        try:
            array = ops.convert_to_numpy(inputs)
        except Exception as exc:  # symbolic tensor / tracer: no values to hand to numpy
            raise TypeError(self._symbolic_error()) from exc
        return ops.convert_to_tensor(self.compute(array))

    def compute_output_spec(self, *args, **kwargs):
        raise TypeError(self._symbolic_error())

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Numpy prediction in batches of ``batch_size`` (default :attr:`predict_batch`): :meth:`compute`."""
        x = np.asarray(x)
        step = batch_size or self.predict_batch
        parts = [self.compute(x[i:i + step]) for i in range(0, len(x), step)]
        return np.concatenate(parts) if parts else self.compute(x[:0])

    def predict_on_batch(self, x):
        return self.compute(x)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "input_shape": list(self.patch_shape),
                **self.params()}


__all__ = ["NumpyModel"]
