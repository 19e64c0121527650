"""DnCNN residual denoiser (Zhang et al. 2017, "Beyond a Gaussian Denoiser")."""

from __future__ import annotations

import keras

from hpdesc.errors import ParameterError
from hpdesc.models.layers import check_common, conv_block, initializer
from hpdesc.params import check_applies, check_bool, check_input_shape, check_int


def dncnn(input_shape=(32, 32, 1), depth: int = 17, filters: int = 64, kernel: int = 3,
          bn: bool | None = None, activation: str = "relu", alpha: float | None = None,
          init: str = "orthogonal", final_init: str = "zeros") -> keras.Model:
    """DnCNN residual denoiser (Zhang et al. 2017): predicts the noise and subtracts it.

    ``depth`` conv layers: conv(filters)+activation, then ``depth - 2`` x
    conv(filters)+BN+activation, then a linear conv to the input's channels ``R(x)``;
    the output is ``x - R(x)``. Defaults follow the paper's DnCNN-S (17 layers, 64 filters,
    orthogonal init). ``bn`` (default true) batch-normalises the middle layers, so it needs
    ``depth >= 3``; ``activation`` is ``relu`` or ``leaky_relu`` (negative slope ``alpha``, 0.2 by
    default; ``alpha`` only with ``leaky_relu``).

    ``final_init`` initialises the last conv: ``"zeros"`` (default) makes the untrained network
    exactly the identity (``R(x) = 0``), so training starts from "output = input" and any
    training improves on the noisy input instead of first undoing a random residual (with a
    random last conv, the 6-epoch quick start ended below the noisy PSNR; see docs/training.md,
    "Measured"). Any name ``init`` accepts restores the previous behaviour
    (``final_init="orthogonal"``).
    The subtraction runs in float32 even under mixed precision, so the identity is exact.

    Shape:
        input ``(B, H, W, C)`` in [0, 1] -> output ``(B, H, W, C)``, same scale (not clipped).
    """
    shape = check_input_shape(input_shape)
    check_int("depth", depth, minimum=2)
    check_int("filters", filters)
    check_int("kernel", kernel)
    if bn is not None:
        check_bool("bn", bn)
        check_applies("bn", bn, depth >= 3, "depth >= 3", f"depth={depth}, no middle layer")
    bn = True if bn is None else bn
    check_common(activation, alpha, init)
    if final_init != "zeros":
        try:
            initializer(final_init)
        except ValueError:
            raise ParameterError(f"parameter 'final_init' must be 'zeros' or one of the 'init' names; "
                             f"got {final_init!r}") from None
    blk = dict(kernel=kernel, activation=activation, alpha=alpha, init=init)

    inputs = keras.Input(shape, name="noisy")
    x = conv_block(inputs, filters, bn=False, name="conv1", **blk)
    for i in range(depth - 2):
        x = conv_block(x, filters, bn=bn, name=f"conv{i + 2}", **blk)
    residual = keras.layers.Conv2D(
        shape[-1], kernel, padding="same",
        kernel_initializer="zeros" if final_init == "zeros" else initializer(final_init),
        name=f"conv{depth}",
    )(x)
    outputs = keras.layers.Subtract(name="denoised", dtype="float32")([inputs, residual])
    return keras.Model(inputs, outputs, name="dncnn")


dncnn.fully_convolutional = True  # capability: any image size (hpdesc.models.fully_convolutional)
