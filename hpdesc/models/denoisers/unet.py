"""U-Net family of patch denoisers: the shallow N-HPatches baseline, a 16-conv U-Net, an autoencoder.

All three map a noisy ``(B, H, W, 1)`` batch in [0, 1] to the denoised batch on the same scale.
The last layer is a linear 1-channel convolution (no sigmoid): the MAE / MSE loss against the
clean patch keeps the output on the [0, 1] scale, and a linear output does not saturate early
in training. Clip at use time if strict bounds are needed. ``activation`` is ``relu`` or
``leaky_relu`` (negative slope ``alpha``, 0.2 by default; ``alpha`` only with ``leaky_relu``).
"""

from __future__ import annotations

import keras

from hpdesc.models.layers import check_common, conv_block, initializer
from hpdesc.params import check_bool, check_input_shape, check_int


def _output_conv(x, kernel, init, name):
    return keras.layers.Conv2D(
        1, kernel, padding="same", kernel_initializer=initializer(init), name=name
    )(x)


def _check(input_shape, levels, filters, kernel, bn, activation, alpha, init):
    shape = check_input_shape(input_shape, divisor=2**levels)
    check_int("filters", filters)
    check_int("kernel", kernel)
    check_bool("bn", bn)
    check_common(activation, alpha, init)
    return shape


def unet(input_shape=(32, 32, 1), filters: int = 16, kernel: int = 3, bn: bool = False,
         activation: str = "relu", alpha: float | None = None, init: str = "he_normal") -> keras.Model:
    """Shallow U-Net denoiser, the N-HPatches baseline (5 convs, one pooling level, one skip).

    conv(f) -> maxpool -> conv(2f) -> upsample + conv(4f) -> concat with the first conv's
    output -> conv(4f) -> conv(1, linear). ``f = filters`` (16 in the baseline).

    Shape:
        input ``(B, H, W, 1)`` in [0, 1], H and W even -> output ``(B, H, W, 1)``, linear.
    """
    shape = _check(input_shape, 1, filters, kernel, bn, activation, alpha, init)
    blk = dict(kernel=kernel, bn=bn, activation=activation, alpha=alpha, init=init)
    inputs = keras.Input(shape, name="noisy")
    c1 = conv_block(inputs, filters, name="enc1_conv", **blk)
    x = keras.layers.MaxPooling2D(2, name="enc1_pool")(c1)
    x = conv_block(x, 2 * filters, name="enc2_conv", **blk)
    x = keras.layers.UpSampling2D(2, name="dec1_up")(x)
    x = conv_block(x, 4 * filters, name="dec1_upconv", **blk)
    x = keras.layers.Concatenate(name="dec1_concat")([x, c1])
    x = conv_block(x, 4 * filters, name="dec1_conv", **blk)
    outputs = _output_conv(x, kernel, init, "out_conv")
    return keras.Model(inputs, outputs, name="unet")


def unet16(input_shape=(32, 32, 1), filters: int = 16, kernel: int = 3, bn: bool = False,
           activation: str = "relu", alpha: float | None = None, init: str = "he_normal") -> keras.Model:
    """16-conv U-Net denoiser, three pooling levels deep with skip concatenations.

    Encoder: 3 levels x 2 convs (f, 2f, 4f), each followed by max-pooling; bottleneck: 2 convs
    (8f); decoder: 3 levels x [upsample + conv, concat with the encoder skip, conv] (4f, 2f, f);
    then conv(f) and conv(1, linear) at full resolution: 6 + 2 + 6 + 2 = 16 conv layers.

    Shape:
        input ``(B, H, W, 1)`` in [0, 1], H and W multiples of 8 -> output ``(B, H, W, 1)``, linear.
    """
    shape = _check(input_shape, 3, filters, kernel, bn, activation, alpha, init)
    blk = dict(kernel=kernel, bn=bn, activation=activation, alpha=alpha, init=init)
    inputs = keras.Input(shape, name="noisy")
    x = inputs
    skips = []
    for level in range(3):
        width = filters * 2**level
        x = conv_block(x, width, name=f"enc{level + 1}_conv1", **blk)
        x = conv_block(x, width, name=f"enc{level + 1}_conv2", **blk)
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"enc{level + 1}_pool")(x)
    x = conv_block(x, 8 * filters, name="mid_conv1", **blk)
    x = conv_block(x, 8 * filters, name="mid_conv2", **blk)
    for level in reversed(range(3)):
        width = filters * 2**level
        x = keras.layers.UpSampling2D(2, name=f"dec{level + 1}_up")(x)
        x = conv_block(x, width, name=f"dec{level + 1}_upconv", **blk)
        x = keras.layers.Concatenate(name=f"dec{level + 1}_concat")([x, skips[level]])
        x = conv_block(x, width, name=f"dec{level + 1}_conv", **blk)
    x = conv_block(x, filters, name="head_conv", **blk)
    outputs = _output_conv(x, kernel, init, "out_conv")
    return keras.Model(inputs, outputs, name="unet16")


def autoencoder(input_shape=(32, 32, 1), filters: int = 16, kernel: int = 3, bn: bool = False,
                activation: str = "relu", alpha: float | None = None,
                init: str = "he_normal") -> keras.Model:
    """Convolutional autoencoder denoiser: a 10-conv U-Net encoder/decoder without skip merges.

    Encoder: 2 levels x 2 convs (f, 2f), each followed by max-pooling; bottleneck: 1 conv (4f);
    decoder: 2 levels x [upsample, conv, conv] (2f, f); then conv(1, linear):
    4 + 1 + 4 + 1 = 10 conv layers.

    Shape:
        input ``(B, H, W, 1)`` in [0, 1], H and W multiples of 4 -> output ``(B, H, W, 1)``, linear.
    """
    shape = _check(input_shape, 2, filters, kernel, bn, activation, alpha, init)
    blk = dict(kernel=kernel, bn=bn, activation=activation, alpha=alpha, init=init)
    inputs = keras.Input(shape, name="noisy")
    x = inputs
    for level in range(2):
        width = filters * 2**level
        x = conv_block(x, width, name=f"enc{level + 1}_conv1", **blk)
        x = conv_block(x, width, name=f"enc{level + 1}_conv2", **blk)
        x = keras.layers.MaxPooling2D(2, name=f"enc{level + 1}_pool")(x)
    x = conv_block(x, 4 * filters, name="mid_conv", **blk)
    for level in reversed(range(2)):
        width = filters * 2**level
        x = keras.layers.UpSampling2D(2, name=f"dec{level + 1}_up")(x)
        x = conv_block(x, width, name=f"dec{level + 1}_conv1", **blk)
        x = conv_block(x, width, name=f"dec{level + 1}_conv2", **blk)
    outputs = _output_conv(x, kernel, init, "out_conv")
    return keras.Model(inputs, outputs, name="autoencoder")


# capability: any image size whose sides pool evenly (hpdesc.models.fully_convolutional)
unet.fully_convolutional = unet16.fully_convolutional = autoencoder.fully_convolutional = True
