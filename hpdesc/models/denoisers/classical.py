"""Classical (non-learned) denoisers run by OpenCV: the baselines a learned denoiser must beat.

``nlmeans`` (non-local means), ``gaussian`` and ``median`` are numpy code, not Keras graphs: the
same contract as the ``sift`` descriptor (:mod:`hpdesc.models.descriptors.sift`). Each is a
weightless ``keras.Model`` whose :meth:`NumpyDenoiser.compute` filters a numpy batch; hpdesc's
pipeline calls ``compute`` (``hpdesc.models.numpy_compute``), training never trains it (no
weights), and it saves / reloads with a run like any Keras model. Plugins with a numpy denoiser
(``plugins/hpdesc-bm3d``) subclass :class:`NumpyDenoiser` and implement :meth:`~NumpyDenoiser.filter`.

Noise strength. A patch batch carries no noise level (the pipeline denoises flat batches that mix
the e / h / t images, and whole images have no level at all), so ``nlmeans`` estimates each
patch's noise standard deviation from the patch itself (Immerkaer's fast estimator,
:func:`estimate_sigma`) and sets ``h = h_factor * sigma``; patches of a harder level get a larger
estimate and a stronger filter. ``h`` set by the user replaces the estimate for every patch.
"""

from __future__ import annotations

import keras
import numpy as np

from hpdesc.errors import ParameterError
from hpdesc.models.numpy import NumpyModel
from hpdesc.params import check_float, check_input_shape, check_int
from hpdesc.pixels import quantise

# Immerkaer (1996), "Fast noise variance estimation": the difference of two Laplacians cancels
# locally linear image structure, leaving (mostly) noise.
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
NLMEANS_H_FACTOR = 1.0  # h = estimated sigma: the best mean PSNR of 0.5..1.2 on the embedded test split (docs/denoising.md)


def estimate_sigma(image: np.ndarray) -> float:
    """Noise standard deviation (grey levels) of one 2-D image, Immerkaer's estimator.

    ``sigma = sqrt(pi / 2) / (6 (W - 2) (H - 2)) * sum |I * N|`` over the valid interior, with
    ``N`` the 3x3 mask ``[[1,-2,1],[-2,4,-2],[1,-2,1]]``. Texture raises it a little; on flat
    content it is unbiased for Gaussian noise.
    """
    import cv2  # noqa: PLC0415

    img = np.asarray(image, np.float32)
    h, w = img.shape
    if h < 3 or w < 3:
        return 0.0
    resp = cv2.filter2D(img, cv2.CV_32F, _IMMERKAER, borderType=cv2.BORDER_REFLECT)[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2.0) * np.abs(resp).sum() / (6.0 * (w - 2) * (h - 2)))


class NumpyDenoiser(NumpyModel):
    """A weightless denoiser computed in numpy, one uint8 patch at a time (a :class:`~hpdesc.models.numpy.NumpyModel`).

    Subclasses implement :meth:`filter` (uint8 ``(H, W)`` -> uint8 ``(H, W)``) and
    :meth:`params` (their constructor arguments, saved with a run).

    Shape:
        input ``(B, H, W, 1)`` float32 in [0, 1] -> output ``(B, H, W, 1)`` float32 in [0, 1]
        (multiples of 1/255: the filters work on the patch quantised to uint8).
    """

    def filter(self, image: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """Denoise one uint8 ``(H, W)`` image; returns uint8 ``(H, W)``."""
        raise NotImplementedError

    def compute(self, patches) -> np.ndarray:
        """Denoise a numpy batch ``(B, H, W, 1)`` in [0, 1]; returns float32 of the same shape."""
        x, squeeze = self.as_batch(patches)
        images = quantise(x[..., 0])
        out = np.empty_like(images)
        for i, image in enumerate(images):
            out[i] = self.filter(np.ascontiguousarray(image))
        res = (out.astype(np.float32) * np.float32(1.0 / 255.0))[..., None]
        return res[..., 0] if squeeze else res


@keras.saving.register_keras_serializable(package="hpdesc")
class NlMeans(NumpyDenoiser):
    """OpenCV ``fastNlMeansDenoising``; ``h`` fixed, or ``h_factor`` x each patch's estimated sigma."""

    def __init__(self, input_shape=(32, 32, 1), h=None, h_factor=NLMEANS_H_FACTOR, template_window=7,
                 search_window=21, **kwargs):
        kwargs.setdefault("name", "nlmeans")
        super().__init__(input_shape, **kwargs)
        self.h = None if h is None else float(h)
        self.h_factor = float(h_factor)
        self.template_window = int(template_window)
        self.search_window = int(search_window)

    def strength(self, image: np.ndarray) -> float:
        """The filter strength ``h`` used for ``image`` (grey levels)."""
        return self.h if self.h is not None else self.h_factor * estimate_sigma(image)

    def filter(self, image):
        import cv2  # noqa: PLC0415

        h = self.strength(image)
        if h <= 0:
            return image
        return cv2.fastNlMeansDenoising(image, None, h=h, templateWindowSize=self.template_window,
                                        searchWindowSize=self.search_window)

    def params(self):
        return {"h": self.h, "h_factor": self.h_factor, "template_window": self.template_window,
                "search_window": self.search_window}


@keras.saving.register_keras_serializable(package="hpdesc")
class GaussianBlur(NumpyDenoiser):
    """OpenCV ``GaussianBlur`` with standard deviation ``sigma`` (pixels), kernel sized by OpenCV."""

    def __init__(self, input_shape=(32, 32, 1), sigma=0.8, **kwargs):
        kwargs.setdefault("name", "gaussian")
        super().__init__(input_shape, **kwargs)
        self.sigma = float(sigma)

    def filter(self, image):
        import cv2  # noqa: PLC0415

        return cv2.GaussianBlur(image, (0, 0), sigmaX=self.sigma, sigmaY=self.sigma,
                                borderType=cv2.BORDER_REFLECT_101)

    def params(self):
        return {"sigma": self.sigma}


@keras.saving.register_keras_serializable(package="hpdesc")
class MedianBlur(NumpyDenoiser):
    """OpenCV ``medianBlur`` over a ``kernel`` x ``kernel`` window (odd, >= 3)."""

    def __init__(self, input_shape=(32, 32, 1), kernel=3, **kwargs):
        kwargs.setdefault("name", "median")
        super().__init__(input_shape, **kwargs)
        self.kernel = int(kernel)

    def filter(self, image):
        import cv2  # noqa: PLC0415

        return cv2.medianBlur(image, self.kernel)

    def params(self):
        return {"kernel": self.kernel}


def _grey_shape(input_shape, name: str) -> tuple[int, int, int]:
    shape = check_input_shape(input_shape, minimum=3)
    if shape[-1] != 1:
        raise ParameterError(f"parameter 'input_shape' must have 1 channel for {name}, got {shape!r}")
    return shape


def _built(model: NumpyDenoiser) -> NumpyDenoiser:
    model.build((None, *model.patch_shape))
    return model


def nlmeans(input_shape=(32, 32, 1), h=None, h_factor=None, template_window: int = 7,
            search_window: int = 21) -> NlMeans:
    """Non-local means (OpenCV ``fastNlMeansDenoising``), strength from each patch's noise level.

    ``h`` (grey levels, > 0): a fixed filter strength for every patch. Unset (default), each patch
    gets ``h = h_factor * sigma`` (``h_factor`` default 1.0) with ``sigma`` its noise standard deviation estimated from the
    patch (Immerkaer; a patch batch carries no noise level). ``template_window`` (odd) and
    ``search_window`` (odd) are OpenCV's patch and search sizes. Not a Keras graph, no weights.

    Shape:
        input ``(B, H, W, 1)`` in [0, 1] -> output the same shape.
    """
    shape = _grey_shape(input_shape, "nlmeans")
    if h is not None:
        h = check_float("h", h, minimum=0.0)
        if h == 0:
            raise ParameterError("parameter 'h' must be > 0 (h = 0 filters nothing), got 0.0")
    if h is not None and h_factor is not None:
        raise ParameterError("parameters 'h' and 'h_factor' exclude each other: h fixes the strength, "
                             "h_factor scales the estimated noise sigma; give one")
    h_factor = NLMEANS_H_FACTOR if h_factor is None else check_float("h_factor", h_factor, minimum=0.0)
    if h_factor == 0:
        raise ParameterError("parameter 'h_factor' must be > 0, got 0.0")
    for key, value in (("template_window", template_window), ("search_window", search_window)):
        value = check_int(key, value, minimum=1)
        if value % 2 == 0:
            raise ParameterError(f"parameter '{key}' must be odd, got {value}")
    return _built(NlMeans(shape, h=h, h_factor=h_factor, template_window=template_window,
                          search_window=search_window, name="nlmeans"))


def gaussian(input_shape=(32, 32, 1), sigma: float = 0.8) -> GaussianBlur:
    """Gaussian blur (OpenCV), standard deviation ``sigma`` pixels (> 0). Not a Keras graph, no weights.

    Shape:
        input ``(B, H, W, 1)`` in [0, 1] -> output the same shape.
    """
    shape = _grey_shape(input_shape, "gaussian")
    sigma = check_float("sigma", sigma, minimum=0.0)
    if sigma == 0:
        raise ParameterError("parameter 'sigma' must be > 0 (sigma = 0 blurs nothing), got 0.0")
    return _built(GaussianBlur(shape, sigma=sigma, name="gaussian"))


def median(input_shape=(32, 32, 1), kernel: int = 3) -> MedianBlur:
    """Median filter (OpenCV) over a ``kernel`` x ``kernel`` window, ``kernel`` odd and >= 3.

    Not a Keras graph, no weights.

    Shape:
        input ``(B, H, W, 1)`` in [0, 1] -> output the same shape.
    """
    shape = _grey_shape(input_shape, "median")
    kernel = check_int("kernel", kernel, minimum=3)
    if kernel % 2 == 0:
        raise ParameterError(f"parameter 'kernel' must be odd, got {kernel}")
    return _built(MedianBlur(shape, kernel=kernel, name="median"))


__all__ = ["GaussianBlur", "MedianBlur", "NlMeans", "NumpyDenoiser", "estimate_sigma", "gaussian", "median",
           "nlmeans"]
