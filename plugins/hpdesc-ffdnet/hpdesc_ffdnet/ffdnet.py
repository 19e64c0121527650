"""FFDNet (Zhang, Zuo & Zhang 2018, "FFDNet: Toward a Fast and Flexible Solution for CNN based
Image Denoising"), adapted to hpdesc's 32x32 grey patches.

The network works on four half-resolution sub-images (pixel-unshuffle by 2) concatenated with a
noise-level map, runs a DnCNN-like body on them, and pixel-shuffles the result back. Working at
half resolution quadruples the receptive field for the same depth; the noise-level map makes one
network cover a range of noise strengths and lets the user turn the strength up or down.

Custom layers are registered as ``hpdesc_ffdnet>Name``; importing this module (which hpdesc does
through the entry point before loading a saved run) is all a saved model needs to reload.
"""

from __future__ import annotations

import keras
from keras import ops

from hpdesc.models.layers import check_common, conv_block, initializer
from hpdesc.params import ParameterError, check_applies, check_bool, check_float, check_input_shape, check_int

# Median of |N(0, 1)|: turns a median absolute deviation into a standard deviation.
_MAD_TO_STD = 0.6745
# Immerkaer's (1996) noise-estimation kernel: the difference of two Laplacians. It cancels
# constant, linear and quadratic image content, so its response is mostly the noise; its L2 norm
# is 6, so white noise of std s gives a response of std 6 s.
_HIGH_PASS = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))
_HIGH_PASS_NORM = 6.0


def _spatial(x, axis):
    """Static size of ``axis`` when known, else the dynamic one."""
    size = x.shape[axis]
    return size if size is not None else ops.shape(x)[axis]


@keras.saving.register_keras_serializable(package="hpdesc_ffdnet")
class PixelUnshuffle(keras.layers.Layer):
    """Space-to-depth: each ``factor x factor`` block becomes ``factor**2`` channels.

    Channel ``(dy * factor + dx) * C + c`` of the output holds pixel ``(factor*i + dy,
    factor*j + dx)`` of input channel ``c`` (the order of TensorFlow's ``space_to_depth``).

    Shape:
        input ``(B, H, W, C)`` with H, W divisible by ``factor`` ->
        output ``(B, H / factor, W / factor, C * factor**2)``.
    """

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, inputs):
        f = self.factor
        h, w, c = _spatial(inputs, 1), _spatial(inputs, 2), inputs.shape[-1]
        x = ops.reshape(inputs, (-1, h // f, f, w // f, f, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h // f, w // f, f * f * c))

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        f = self.factor
        return (b, None if h is None else h // f, None if w is None else w // f, c * f * f)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="hpdesc_ffdnet")
class PixelShuffle(keras.layers.Layer):
    """Depth-to-space, the exact inverse of :class:`PixelUnshuffle`.

    Shape:
        input ``(B, h, w, C * factor**2)`` -> output ``(B, h * factor, w * factor, C)``.
    """

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def call(self, inputs):
        f = self.factor
        h, w, cf = _spatial(inputs, 1), _spatial(inputs, 2), inputs.shape[-1]
        c = cf // (f * f)
        x = ops.reshape(inputs, (-1, h, w, f, f, c))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, h * f, w * f, c))

    def compute_output_shape(self, input_shape):
        b, h, w, cf = input_shape
        f = self.factor
        return (b, None if h is None else h * f, None if w is None else w * f, cf // (f * f))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def estimate_noise_sigma(patches):
    """Per-patch noise standard deviation, in the patches' own units, from a high-pass response.

    ``sigma = median(|K * x|) / (0.6745 * 6)`` over the valid 3x3 responses of all channels, where
    ``K`` is Immerkaer's noise kernel (norm 6). The median absolute deviation ignores the few
    large responses at edges and corners (Donoho's robust estimator), so on a textured patch the
    estimate is still close to the noise; a very textured, clean patch reads as slightly noisy.

    Shape:
        input ``(B, H, W, C)`` with H, W >= 3 -> output ``(B,)``.
    """
    x = ops.convert_to_tensor(patches)
    c = x.shape[-1]
    kernel = ops.convert_to_tensor(_HIGH_PASS, dtype=x.dtype)
    kernel = ops.tile(ops.reshape(kernel, (3, 3, 1, 1)), (1, 1, c, 1))
    response = ops.depthwise_conv(x, kernel, strides=1, padding="valid")
    flat = ops.reshape(ops.abs(response), (ops.shape(x)[0], -1))
    return ops.median(flat, axis=1) / (_MAD_TO_STD * _HIGH_PASS_NORM)


@keras.saving.register_keras_serializable(package="hpdesc_ffdnet")
class NoiseLevelMap(keras.layers.Layer):
    """FFDNet's noise-level map at the sub-image resolution: one constant channel per patch.

    ``sigma`` (in [0, 1] intensity units, e.g. 0.04 ~ 10 grey levels) fixes the level for every
    patch; ``sigma=None`` estimates it per patch with :func:`estimate_noise_sigma` (no gradient
    flows through the estimate). Changing ``layer.sigma`` after training changes how strongly a
    trained FFDNet denoises, as in the paper.

    Shape:
        input ``(B, H, W, C)`` -> output ``(B, H / factor, W / factor, 1)``, values in [0, 1].
    """

    def __init__(self, sigma: float | None = None, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.sigma = None if sigma is None else float(sigma)
        self.factor = int(factor)

    def call(self, inputs):
        f = self.factor
        base = ops.zeros_like(inputs[:, ::f, ::f, :1])
        if self.sigma is None:
            level = ops.stop_gradient(ops.clip(estimate_noise_sigma(inputs), 0.0, 1.0))
            return base + ops.reshape(ops.cast(level, base.dtype), (-1, 1, 1, 1))
        return base + ops.cast(self.sigma, base.dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        f = self.factor
        return (b, None if h is None else h // f, None if w is None else w // f, 1)

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma, "factor": self.factor}


def _parse_sigma(sigma):
    if sigma is None or (isinstance(sigma, str) and sigma.lower() == "auto"):
        return None
    if isinstance(sigma, str):
        raise ParameterError(f"parameter 'sigma' must be a number in [0, 1] or \"auto\", got {sigma!r}")
    return check_float("sigma", sigma, minimum=0.0, maximum=1.0)


def _final_init(final_init, residual: bool, init: str):
    """The last conv's initializer: ``"auto"`` is zeros for the residual form, else ``init``."""
    if final_init == "auto":
        return "zeros" if residual else initializer(init)
    if final_init == "zeros":
        return "zeros"
    try:
        return initializer(final_init)
    except ValueError:
        raise ParameterError(f"parameter 'final_init' must be \"auto\", \"zeros\" or one of the 'init' "
                             f"names; got {final_init!r}") from None


def ffdnet(input_shape=(32, 32, 1), sigma: float | str | None = "auto", depth: int = 4,
           filters: int = 64, kernel: int = 3, bn: bool | None = None, residual: bool = True,
           final_init: str = "auto", activation: str = "relu", alpha: float | None = None,
           init: str = "orthogonal") -> keras.Model:
    """FFDNet denoiser (Zhang et al. 2018): pixel-unshuffle, noise-level map, conv body, shuffle back.

    The patch is split into four half-resolution sub-images (pixel-unshuffle by 2) and a
    noise-level map is appended (``sigma`` in [0, 1] intensity units, or ``"auto"``/``None`` to
    estimate it per patch from the median absolute deviation of a high-pass response, see
    :func:`estimate_noise_sigma`). A DnCNN-like body follows: conv+activation, ``depth - 2`` x
    conv+BN+activation, and a linear conv to ``4 C`` channels, which are pixel-shuffled back.
    H and W must be even.

    Two choices adapt the paper to hpdesc's 32x32 patches and short training budgets (measured
    in the plugin's README, "Measured"):

    * Start from the identity. With ``residual=true`` (default) the body's output is subtracted
      from the sub-images (it predicts the noise, DnCNN-style) and, with ``final_init="auto"``,
      its last conv starts at zero, so the untrained network returns its input exactly and
      training only has to improve on the noisy patch, as hpdesc's DnCNN does. The sub-image
      split, the noise-level map, the body and the shuffle are the paper's; only the skip from
      the sub-images to the output is added. The paper's form predicts the clean sub-images
      directly (``residual=false``; ``"auto"`` then initialises the last conv like the
      others): it starts from a random output and ended below the noisy input's PSNR at the
      default budget. ``final_init`` takes ``"zeros"`` or any ``init`` name to override.
    * ``depth=4`` rather than the paper's 15 (grey images): at half resolution 15 layers span
      31x31 sub-pixels, twice a 16x16 sub-image, and started from the identity they did not
      leave it within the default budget (5 x 640 patches) nor in 15 epochs; 4 layers (a 9x9
      sub-pixel, 18x18 pixel receptive field) train within it. ``depth=15`` builds the paper's
      grey model.

    The skip (unshuffle, subtraction, shuffle) and the noise estimate run in float32 under
    mixed precision, so the identity is exact.

    Shape:
        input ``(B, H, W, C)`` in [0, 1] -> output ``(B, H, W, C)``, same scale (not clipped).
    """
    shape = check_input_shape(input_shape, divisor=2, minimum=4)
    level = _parse_sigma(sigma)
    check_int("depth", depth, minimum=2)
    check_int("filters", filters)
    check_int("kernel", kernel)
    if bn is not None:  # default true; it normalises the middle layers, so needs depth >= 3
        check_bool("bn", bn)
        check_applies("bn", bn, depth >= 3, "depth >= 3", f"depth={depth}, no middle layer")
    bn = True if bn is None else bn
    check_bool("residual", residual)
    check_common(activation, alpha, init)  # alpha only with activation="leaky_relu"
    last_init = _final_init(final_init, residual, init)
    blk = dict(kernel=kernel, activation=activation, alpha=alpha, init=init)

    inputs = keras.Input(shape, name="noisy")
    # float32 even under mixed precision: pure data movement, and the skip must be exact.
    sub = PixelUnshuffle(2, name="unshuffle", dtype="float32")(inputs)
    noise_map = NoiseLevelMap(level, 2, name="noise_map", dtype="float32")(inputs)
    x = keras.layers.Concatenate(name="with_noise_map")([sub, noise_map])
    x = conv_block(x, filters, bn=False, name="conv1", **blk)
    for i in range(depth - 2):
        x = conv_block(x, filters, bn=bn, name=f"conv{i + 2}", **blk)
    x = keras.layers.Conv2D(4 * shape[-1], kernel, padding="same", kernel_initializer=last_init,
                            name=f"conv{depth}")(x)
    if residual:
        x = keras.layers.Subtract(name="clean_subimages", dtype="float32")([sub, x])
    outputs = PixelShuffle(2, name="denoised", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="ffdnet")


ffdnet.fully_convolutional = True  # hpdesc capability flag: runs on whole images (docs/plugins.md)
