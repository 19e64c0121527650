"""Raw-pixel descriptor baseline: (downsampled) normalised pixels."""

from __future__ import annotations

import keras

from hpdesc.errors import ParameterError
from hpdesc.models.layers import L2Normalize, PatchStandardize
from hpdesc.params import check_input_shape, check_int


def raw(input_shape=(32, 32, 1), dim: int = 128, size: int | None = None) -> keras.Model:
    """Raw normalised pixels: optional average-pool to size x size, zero mean, unit L2 norm (no weights).

    ``size`` (default: the input's own H, i.e. no downsampling) must divide H and W evenly;
    the patch is average-pooled by ``H // size`` before centring. The descriptor has
    ``size * size * C`` values, so ``dim`` is accepted (the contract passes it) but ignored.
    A constant patch maps to the zero vector.

    Shape:
        input ``(B, H, W, C)`` in [0, 1] -> output ``(B, size * size * C)``, unit L2 norm.
    """
    shape = check_input_shape(input_shape)
    check_int("dim", dim)
    h, w, _ = shape
    if size is None:
        size = h
    size = check_int("size", size)
    if h % size or w % size or h // size != w // size:
        raise ParameterError(
            f"parameter 'size' must divide the patch size {h}x{w} evenly (same factor); got {size}"
        )
    inputs = keras.Input(shape, name="patch")
    x = inputs
    factor = h // size
    if factor > 1:
        x = keras.layers.AveragePooling2D(factor, name="downsample")(x)
    x = PatchStandardize(scale=False, name="centre")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = L2Normalize(name="l2_norm")(x)
    return keras.Model(inputs, outputs, name="raw")
