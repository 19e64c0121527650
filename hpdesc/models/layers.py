"""Shared building blocks for hpdesc models: activations, initialisers, conv blocks, custom layers.

Everything here uses ``keras`` / ``keras.ops`` only, so models built from it run on the
TensorFlow, JAX and PyTorch backends. Custom layers are registered as ``hpdesc>Name`` so a saved
``.keras`` model reloads once ``hpdesc.models.layers`` has been imported (hpdesc's model modules
import it).
"""

from __future__ import annotations

import inspect

import keras
from keras import ops

from hpdesc.errors import ParameterError
# The parameter checks live in hpdesc.params (layer 0, what plugins use); re-exported here for
# third-party plugins that import them from this module (kept for backward compatibility).
from hpdesc.params import check_applies, check_bool, check_float, check_input_shape, check_int  # noqa: F401

ACTIVATIONS = ("relu", "leaky_relu")
INITIALIZERS = ("he_normal", "glorot_normal", "xavier", "orthogonal")


# -- activations and initialisers -------------------------------------------------------------


DEFAULT_ALPHA = 0.2
"""LeakyReLU's negative slope when ``activation="leaky_relu"`` is given without ``alpha``."""


def activation_layer(activation: str = "relu", alpha: float | None = None, name: str | None = None):
    """Return a Keras activation layer: ``"relu"`` or ``"leaky_relu"`` (``alpha`` = negative slope, default 0.2)."""
    if activation == "relu":
        return keras.layers.ReLU(name=name)
    if activation == "leaky_relu":
        alpha = DEFAULT_ALPHA if alpha is None else check_float("alpha", alpha, minimum=0.0)
        return keras.layers.LeakyReLU(negative_slope=alpha, name=name)
    raise ParameterError(
        f"parameter 'activation' must be one of {', '.join(ACTIVATIONS)}; got {activation!r}"
    )


def initializer(name: str = "he_normal"):
    """Return a fresh Keras initializer: ``he_normal``, ``glorot_normal`` (alias ``xavier``), ``orthogonal``."""
    if name == "he_normal":
        return keras.initializers.HeNormal()
    if name in ("glorot_normal", "xavier"):
        return keras.initializers.GlorotNormal()
    if name == "orthogonal":
        return keras.initializers.Orthogonal()
    raise ParameterError(f"parameter 'init' must be one of {', '.join(INITIALIZERS)}; got {name!r}")


def check_common(activation: str, alpha: float | None, init: str) -> None:
    """Validate the ``activation`` / ``alpha`` / ``init`` parameters every trainable model takes.

    ``alpha=None`` is the default (0.2 with ``leaky_relu``); an ``alpha`` given with another
    activation would change nothing, so it is a ValueError.
    """
    activation_layer(activation, alpha)
    if alpha is not None:
        check_float("alpha", alpha, minimum=0.0)
        check_applies("alpha", alpha, activation == "leaky_relu", "activation=leaky_relu",
                      f"activation={activation!r}")
    initializer(init)


def ignored_before_checks(params, factory) -> list[str]:
    """The keys of ``params`` that hpdesc once accepted for ``factory`` and ignored: ``alpha`` without LeakyReLU.

    Runs saved before :func:`check_common` refused such an ``alpha`` (the README's old
    ``--set denoiser.alpha=0.2`` on a ReLU network) resume without it: it never changed the
    network. ``factory`` must take ``activation`` and ``alpha`` for this to apply.
    """
    if "alpha" not in params:
        return []
    try:
        sig = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return []
    if "activation" not in sig or "alpha" not in sig:
        return []
    return [] if params.get("activation", sig["activation"].default) == "leaky_relu" else ["alpha"]


def conv_block(x, filters: int, kernel=3, strides=1, bn: bool = False, activation: str | None = "relu",
               alpha: float | None = None, init: str = "he_normal", name: str = "conv", padding: str = "same",
               bn_affine: bool = True, bn_epsilon: float = 1e-3):
    """Conv2D -> optional BatchNorm -> optional activation, with layer names ``name``, ``name_bn``, ``name_act``.

    The convolution has no bias when followed by batch norm (the norm's shift replaces it).
    ``activation=None`` leaves the block linear. ``padding="symmetric"``: PyTorch's
    ``padding=k//2`` (a ``name_pad`` ZeroPadding2D, then a valid conv); it differs from Keras'
    ``same`` only for stride 2 on an even size (``same`` pads bottom/right only).
    ``bn_epsilon``: the norm's epsilon (Keras' default 1e-3; PyTorch's is 1e-5).

    Shape:
        input ``(B, H, W, C)`` -> output ``(B, H', W', filters)``.
    """
    if padding == "symmetric":
        k = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
        x = keras.layers.ZeroPadding2D((k[0] // 2, k[1] // 2), name=f"{name}_pad")(x)
        padding = "valid"
    x = keras.layers.Conv2D(
        filters, kernel, strides=strides, padding=padding, use_bias=not bn,
        kernel_initializer=initializer(init), name=name,
    )(x)
    if bn:
        x = keras.layers.BatchNormalization(center=bn_affine, scale=bn_affine, epsilon=bn_epsilon,
                                            name=f"{name}_bn")(x)
    if activation is not None:
        x = activation_layer(activation, alpha, name=f"{name}_act")(x)
    return x


# -- custom layers ----------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="hpdesc")
class L2Normalize(keras.layers.Layer):
    """Scale each vector along ``axis`` to unit L2 norm (zero vectors stay zero).

    Shape:
        input ``(B, ..., D)`` -> output same shape.
    """

    def __init__(self, axis: int = -1, epsilon: float = 1e-12, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon

    def call(self, inputs):
        return ops.normalize(inputs, axis=self.axis, order=2, epsilon=self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="hpdesc")
class PatchStandardize(keras.layers.Layer):
    """Per-patch zero mean and, if ``scale``, unit standard deviation (HardNet's input norm).

    ``(x - mean(x)) / (std(x) + epsilon)`` over all non-batch axes; a constant patch maps to zeros.
    ``variance_epsilon`` is added to the variance under the square root (PyTorch's
    ``InstanceNorm2d`` adds 1e-5 there, with no ``epsilon``: SOSNet's input norm).

    Shape:
        input ``(B, H, W, C)`` -> output same shape.
    """

    def __init__(self, scale: bool = True, epsilon: float = 1e-7, variance_epsilon: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.epsilon = epsilon
        self.variance_epsilon = variance_epsilon

    def call(self, inputs):
        axes = tuple(range(1, len(inputs.shape)))
        centred = inputs - ops.mean(inputs, axis=axes, keepdims=True)
        if not self.scale:
            return centred
        std = ops.sqrt(ops.mean(ops.square(centred), axis=axes, keepdims=True) + self.variance_epsilon)
        # std is treated as a constant like HardNet's ``.detach()``: keeps gradients well scaled.
        return centred / (ops.stop_gradient(std) + self.epsilon)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "epsilon": self.epsilon,
                "variance_epsilon": self.variance_epsilon}


@keras.saving.register_keras_serializable(package="hpdesc")
class QuantizeUint8(keras.layers.Layer):
    """Round [0, 1] values to the 256 levels of a uint8 image, as hpdesc does between denoiser and descriptor.

    ``round(clip(x, 0, 1) * 255) * (1 / 255)`` in float32 (round half to even), the same numbers as
    :func:`hpdesc.data.batches.to_uint8` then :func:`~hpdesc.data.batches.to_float`; used where
    the two stages run in one graph (``hpdesc export --what pipeline``).

    Shape:
        input ``(B, H, W, C)`` -> output same shape, float32.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")  # float32 under a mixed policy too: bfloat16 cannot hold x * 255
        super().__init__(**kwargs)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        return ops.round(ops.clip(x, 0.0, 1.0) * 255.0) * ops.convert_to_tensor(1.0 / 255.0, "float32")

    def compute_output_shape(self, input_shape):
        return input_shape
