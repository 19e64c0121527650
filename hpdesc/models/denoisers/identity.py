"""Identity "denoiser" for ablations: returns the noisy patches unchanged."""

from __future__ import annotations

import keras

from hpdesc.params import check_input_shape


def identity(input_shape=(32, 32, 1)) -> keras.Model:
    """No denoising: returns its input unchanged (no weights; for ablations).

    Shape:
        input ``(B, H, W, C)`` -> output the same tensor, ``(B, H, W, C)``.
    """
    shape = check_input_shape(input_shape)
    inputs = keras.Input(shape, name="noisy")
    outputs = keras.layers.Identity(name="denoised")(inputs)
    return keras.Model(inputs, outputs, name="identity")
