"""hpdesc's built-in models (denoisers/, descriptors/, shared layers) and helpers for using them.

Importing this package (or any module in it) registers every hpdesc custom layer with Keras, so a
saved ``.keras`` model of hpdesc's loads with plain ``keras.saving.load_model`` after
``import hpdesc.models`` (docs/deploying.md). It imports Keras for that.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hpdesc.models import layers as _layers  # noqa: F401 - registers PatchStandardize, L2Normalize
from hpdesc.models.descriptors import sift as _sift  # noqa: F401 - registers SiftDescriptor
from hpdesc.models.descriptors import onnx as _onnx_desc  # noqa: F401 - registers OnnxDescriptor
from hpdesc.models.denoisers import onnx as _onnx_den  # noqa: F401 - registers OnnxDenoiser


def is_trainable(model) -> bool:
    """True when ``model`` has trainable weights (False for identity, raw, sift and frozen models)."""
    return bool(getattr(model, "trainable_weights", None))


def numpy_compute(model) -> Callable[[np.ndarray], np.ndarray] | None:
    """The model's numpy ``compute(patches) -> array`` if it is a :class:`~hpdesc.models.numpy.NumpyModel`
    (sift, the classical denoisers, a plugin's numpy component), else None (a Keras graph)."""
    from hpdesc.models.numpy import NumpyModel

    return model.compute if isinstance(model, NumpyModel) else None


def fully_convolutional(factory) -> bool:
    """Whether a registry factory (or model class) declares that its model runs on images of any size.

    Declared by the component: ``factory.fully_convolutional = True`` beside the factory
    (hpdesc's dncnn, unet, unet16, autoencoder; the ffdnet plugin). Such a denoiser can run once
    over a whole image (:mod:`hpdesc.inference.wholeimage`).
    """
    return bool(getattr(factory, "fully_convolutional", False))
