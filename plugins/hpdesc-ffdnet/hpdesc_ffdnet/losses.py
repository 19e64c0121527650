"""SSIM and MS-SSIM denoiser losses (``1 - similarity``) in ``keras.ops``, sized for 32x32 patches.

SSIM follows Wang et al. 2004 ("Image quality assessment: from error visibility to structural
similarity"): local means, variances and covariance under a Gaussian window, constants
``C1 = (k1 L)^2`` and ``C2 = (k2 L)^2`` with ``L = max_val``, averaged over the valid window
positions. MS-SSIM follows Wang, Simoncelli & Bovik 2003: contrast-structure terms at every
scale, luminance only at the coarsest, combined as a weighted geometric mean.

The Gaussian window is applied as two 1-D depthwise convolutions (separable), "valid" padding.

Range: both losses see the denoised patch clipped to ``[0, max_val]`` and add the mean distance
by which it lies outside that range (divided by ``max_val``); see :func:`_in_range` for why.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from hpdesc.params import ParameterError, check_float, check_int

# Wang et al. 2003's weights for 5 scales, finest first.
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
# MS-SSIM's per-scale terms are clamped to this before the weighted geometric mean.
_FLOOR = 1e-6


def _gaussian(window: int, sigma: float) -> np.ndarray:
    k = np.arange(window, dtype=np.float64) - (window - 1) / 2.0
    g = np.exp(-(k ** 2) / (2.0 * sigma ** 2))
    return (g / g.sum()).astype(np.float32)


def _check_window(window, sigma):
    window = check_int("window", window, minimum=1)
    if window % 2 == 0:
        raise ParameterError(f"parameter 'window' must be odd, got {window}")
    return window, check_float("sigma", sigma, minimum=1e-6)


def _blur(x, g: np.ndarray):
    """Separable Gaussian blur of every channel, valid positions only."""
    c = x.shape[-1]
    w = len(g)
    kh = ops.convert_to_tensor(np.tile(g.reshape(w, 1, 1, 1), (1, 1, c, 1)), dtype=x.dtype)
    kw = ops.convert_to_tensor(np.tile(g.reshape(1, w, 1, 1), (1, 1, c, 1)), dtype=x.dtype)
    x = ops.depthwise_conv(x, kh, strides=1, padding="valid")
    return ops.depthwise_conv(x, kw, strides=1, padding="valid")


def _ssim_terms(x, y, g: np.ndarray, c1: float, c2: float):
    """Per-image mean of luminance*contrast-structure (SSIM) and of contrast-structure alone.

    Shape:
        ``x``, ``y``: ``(B, H, W, C)`` with H, W >= window -> two ``(B,)`` tensors.
    """
    h, w, win = x.shape[1], x.shape[2], len(g)
    if (h is not None and h < win) or (w is not None and w < win):
        raise ValueError(f"patches of {h}x{w} pixels are smaller than the {win}x{win} SSIM window; "
                         f"use a smaller 'window' (or fewer 'scales' for ms_ssim)")
    c = x.shape[-1]
    # One blur of the five moment images instead of five blurs.
    blurred = _blur(ops.concatenate([x, y, x * x, y * y, x * y], axis=-1), g)
    mu_x, mu_y, e_xx, e_yy, e_xy = (blurred[..., i * c:(i + 1) * c] for i in range(5))
    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov = e_xy - mu_x * mu_y
    lum = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    cs = (2.0 * cov + c2) / (var_x + var_y + c2)
    axes = (1, 2, 3)
    return ops.mean(lum * cs, axis=axes), ops.mean(cs, axis=axes)


def _pair(clean, denoised):
    # Always at least float32: the SSIM ratios lose too much in float16 / bfloat16 (mixed precision).
    denoised = ops.convert_to_tensor(denoised)
    dtype = "float64" if keras.backend.standardize_dtype(denoised.dtype) == "float64" else "float32"
    return ops.cast(ops.convert_to_tensor(clean), dtype), ops.cast(denoised, dtype)


def _in_range(clean, denoised, max_val: float):
    """What the SSIM terms see: both patches clipped to ``[0, max_val]``, plus an out-of-range penalty.

    Why: SSIM is a product of a luminance factor ``(2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)``
    and a contrast-structure factor ``(2 cov + C2) / (var_x + var_y + C2)``. For ``y = -x`` both
    are close to -1 and their product close to +1, so an unconstrained network can "win" SSIM
    with a negated patch (an FFDNet trained with ``ssim`` did: output mean -0.46 on patches of
    mean 0.47, loss 0.47, 7 dB PSNR). With both patches in ``[0, max_val]`` the local means are
    >= 0, so the luminance factor is in (0, 1]: SSIM <= 1 with equality only for ``y = x``, and an
    anti-correlated (inverted) patch scores below 0 (loss above 1), worse than any noisy one.

    Plain clipping alone has zero gradient for every pixel outside the range: a negated output
    clips to 0 everywhere and would never move. So the loss adds ``mean(|y - clip(y)|) /
    max_val``, the distance to the range, which is 0 for every in-range output (there the loss
    is exactly ``1 - SSIM``, the metric) and pulls an out-of-range pixel back with the slope of
    an L1 loss until the SSIM terms see it again. This was chosen over the mixed SSIM + L1 form
    (Zhao et al. 2017), which changes the loss for every patch and keeps SSIM's spurious
    optimum: with its weights (0.84, 0.16) ``-x`` still scores better than a noisy patch
    (0.241 vs 0.264) and gradient descent from ``-x`` stays inverted.

    Returns ``(x, y_seen, penalty)``: float32 (float64 for float64 input) patches and a scalar.
    """
    x, y = _pair(clean, denoised)
    x = ops.clip(x, 0.0, max_val)
    seen = ops.clip(y, 0.0, max_val)
    return x, seen, ops.mean(ops.abs(y - seen)) / max_val


def ssim(window: int = 7, sigma: float = 1.5, max_val: float = 1.0, k1: float = 0.01,
         k2: float = 0.03):
    """Structural-similarity loss ``1 - mean SSIM`` (Wang et al. 2004), Gaussian window.

    ``window`` defaults to 7 rather than the paper's 11: on a 32x32 patch an 11x11 window
    leaves only 22x22 valid positions and averages over a third of the patch, while 7x7
    (Gaussian ``sigma`` 1.5, as in the paper) keeps 26x26 and follows finer texture.
    ``max_val`` is the dynamic range (1 for patches in [0, 1]). 0 for identical patches, below
    1 for positively correlated ones, up to 2 for anti-correlated (inverted) ones; a denoised
    patch outside ``[0, max_val]`` is clipped before SSIM and the distance to the range is
    added (see :func:`_in_range`), so a negated output scores worse than the noisy input and
    its gradient still points back into the range.

    Shape:
        ``loss(clean, denoised)``: two ``(B, H, W, C)`` tensors, H, W >= window -> scalar.
    """
    window, sigma = _check_window(window, sigma)
    max_val = check_float("max_val", max_val, minimum=1e-12)
    k1 = check_float("k1", k1, minimum=0.0)
    k2 = check_float("k2", k2, minimum=0.0)
    g = _gaussian(window, sigma)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2

    def loss(clean, denoised):
        x, y, outside = _in_range(clean, denoised, max_val)
        value, _ = _ssim_terms(x, y, g, c1, c2)
        return 1.0 - ops.mean(value) + outside

    loss.__name__ = "ssim"
    return loss


def ms_ssim(scales: int = 3, window: int = 5, sigma: float = 1.0, weights: list | None = None,
            max_val: float = 1.0, k1: float = 0.01, k2: float = 0.03):
    """Multi-scale SSIM loss ``1 - mean MS-SSIM`` (Wang et al. 2003) adapted to 32x32 patches.

    The paper uses 5 scales and an 11x11 window, which needs images of at least
    11 * 2**4 = 176 pixels. A 32x32 patch halves to 16 and 8, so the defaults are 3 scales
    (32 -> 16 -> 8) and a 5x5 window (Gaussian ``sigma`` 1.0) that still has 4x4 valid
    positions at the coarsest scale; the rule is ``H / 2**(scales - 1) >= window``.
    ``weights`` default to the paper's first ``scales`` weights renormalised to sum 1
    (0.071, 0.453, 0.476 for 3 scales). Scales are 2x2 average-pooled. As for :func:`ssim`, the
    denoised patch is clipped to ``[0, max_val]`` and its distance to the range added (see
    :func:`_in_range`). A per-image term that goes below 1e-6 (anti-correlated patches) is
    clamped to 1e-6 before the weighted geometric mean, which keeps the loss finite; the clamp
    alone has no gradient, so ``weight * (1e-6 - term)`` is added for each clamped term: an
    inverted patch scores above 1, the more inverted the worse, and is pulled back towards
    positive correlation. For images with every term above 1e-6 the loss is exactly
    ``1 - MS-SSIM``.

    Shape:
        ``loss(clean, denoised)``: two ``(B, H, W, C)`` tensors,
        ``H / 2**(scales - 1) >= window`` -> scalar.
    """
    scales = check_int("scales", scales, minimum=1)
    if scales > len(MS_SSIM_WEIGHTS):
        raise ParameterError(f"parameter 'scales' must be <= {len(MS_SSIM_WEIGHTS)}, got {scales}")
    window, sigma = _check_window(window, sigma)
    max_val = check_float("max_val", max_val, minimum=1e-12)
    k1 = check_float("k1", k1, minimum=0.0)
    k2 = check_float("k2", k2, minimum=0.0)
    if weights is None:
        w = np.asarray(MS_SSIM_WEIGHTS[:scales], np.float64)
        weights = list(w / w.sum())
    elif not isinstance(weights, (list, tuple)) or len(weights) != scales:
        raise ParameterError(f"parameter 'weights' must be a list of {scales} numbers (one per scale), "
                         f"got {weights!r}")
    weights = [check_float("weights", v, minimum=0.0) for v in weights]
    g = _gaussian(window, sigma)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2

    def loss(clean, denoised):
        x, y, outside = _in_range(clean, denoised, max_val)
        h = x.shape[1]
        if h is not None and h // 2 ** (scales - 1) < window:
            raise ValueError(
                f"ms_ssim with scales={scales} and window={window} needs patches of at least "
                f"{window * 2 ** (scales - 1)} pixels, got {h}; lower 'scales' or 'window'")
        total, below = None, 0.0
        for j in range(scales):
            full, cs = _ssim_terms(x, y, g, c1, c2)
            term = full if j == scales - 1 else cs
            below = below + weights[j] * ops.relu(_FLOOR - term)
            term = ops.power(ops.maximum(term, _FLOOR), weights[j])
            total = term if total is None else total * term
            if j < scales - 1:
                x = ops.average_pool(x, 2, strides=2, padding="valid")
                y = ops.average_pool(y, 2, strides=2, padding="valid")
        return 1.0 - ops.mean(total) + ops.mean(below) + outside

    loss.__name__ = "ms_ssim"
    return loss
