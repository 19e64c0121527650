"""ResNet-50 patch descriptor: Keras' ResNet50 backbone, trained from scratch, with an L2 head."""

from __future__ import annotations

import keras

from hpdesc.models.layers import (
    L2Normalize,
    PatchStandardize,
    activation_layer,
    check_common,
    initializer,
)
from hpdesc.params import check_applies, check_input_shape, check_int


def _reinitialise(model: keras.Model, init: str) -> None:
    """Re-draw every conv / dense kernel of ``model`` from the ``init`` initializer."""
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            layer.kernel.assign(initializer(init)(layer.kernel.shape, dtype=layer.kernel.dtype))


def resnet50(input_shape=(32, 32, 1), dim: int = 128, hidden: int = 512,
             activation: str | None = None, alpha: float | None = None,
             init: str = "he_normal") -> keras.Model:
    """ResNet-50 descriptor: keras.applications.ResNet50 (no pretrained weights) + dense L2 head.

    Per-patch standardisation, the ResNet-50 convolutional stack (``include_top=False``,
    ``weights=None``; its own ReLUs and BN), global average pooling, then the head:
    ``Dense(hidden)`` + activation (skipped when ``hidden=0``), ``Dense(dim)``, L2 normalisation.
    ``activation`` (``relu`` by default, or ``leaky_relu`` with slope ``alpha``, 0.2 by default)
    applies to the head only, so with ``hidden=0`` neither may be given; ``init`` applies to every
    conv and dense kernel, backbone included. Needs H, W >= 32.

    Shape:
        input ``(B, H, W, C)`` in [0, 1] -> output ``(B, dim)``, unit L2 norm.
    """
    shape = check_input_shape(input_shape, minimum=32)
    check_int("dim", dim)
    check_int("hidden", hidden, minimum=0)
    for name, value in (("activation", activation), ("alpha", alpha)):
        check_applies(name, value, hidden > 0, "hidden > 0", "hidden=0, no dense head")
    activation = "relu" if activation is None else activation
    check_common(activation, alpha, init)

    backbone = keras.applications.ResNet50(
        include_top=False, weights=None, input_shape=shape, pooling="avg",
        name="resnet50_backbone",
    )
    _reinitialise(backbone, init)
    inputs = keras.Input(shape, name="patch")
    x = PatchStandardize(name="input_norm")(inputs)
    x = backbone(x)
    if hidden:
        x = keras.layers.Dense(hidden, kernel_initializer=initializer(init), name="head_dense")(x)
        x = activation_layer(activation, alpha, name="head_act")(x)
    x = keras.layers.Dense(dim, kernel_initializer=initializer(init), name="head_out")(x)
    outputs = L2Normalize(name="l2_norm")(x)
    return keras.Model(inputs, outputs, name="resnet50")
