"""BM3D (Dabov et al., IEEE TIP 2007) through the ``bm3d`` package: a numpy denoiser for hpdesc.

The plugin contract for a component that is not a Keras graph (docs/plugins.md): the factory
returns a weightless ``keras.Model`` subclass of :class:`hpdesc.models.denoisers.classical.NumpyDenoiser`
that implements ``filter`` (one uint8 patch) and ``params``; hpdesc calls its numpy ``compute``,
never trains it, and saves / reloads it with a run (the class is registered as Keras-serialisable).
"""

from __future__ import annotations

import keras
import numpy as np

from hpdesc.errors import ParameterError
from hpdesc.models.denoisers.classical import NumpyDenoiser, estimate_sigma
from hpdesc.params import check_float, check_input_shape

PROFILES = ("np", "refilter", "vn", "vn_old", "high", "deb")  # the bm3d package's named profiles


@keras.saving.register_keras_serializable(package="hpdesc_bm3d")
class Bm3d(NumpyDenoiser):
    """BM3D of each patch; noise sigma fixed, or estimated per patch (as hpdesc's ``nlmeans`` does)."""

    def __init__(self, input_shape=(32, 32, 1), sigma=None, profile="np", **kwargs):
        kwargs.setdefault("name", "bm3d")
        super().__init__(input_shape, **kwargs)
        self.sigma = None if sigma is None else float(sigma)
        self.profile = str(profile)

    def noise_sigma(self, image: np.ndarray) -> float:
        """The noise standard deviation (grey levels) BM3D is told for ``image``."""
        return self.sigma if self.sigma is not None else estimate_sigma(image)

    def filter(self, image):
        import bm3d as _bm3d  # noqa: PLC0415 - a second or two to import; only when denoising

        sigma = self.noise_sigma(image)
        if sigma <= 0:
            return image
        out = _bm3d.bm3d(image.astype(np.float64) / 255.0, sigma / 255.0, profile=self.profile)
        return np.clip(np.rint(np.asarray(out) * 255.0), 0, 255).astype(np.uint8)

    def params(self):
        return {"sigma": self.sigma, "profile": self.profile}


def bm3d(input_shape=(32, 32, 1), sigma=None, profile: str = "np") -> Bm3d:
    """BM3D denoiser (the ``bm3d`` package, Tampere University; non-commercial licence, see README).

    ``sigma`` (grey levels, > 0): the noise standard deviation BM3D assumes for every patch;
    unset (default), it is estimated per patch (Immerkaer, :func:`hpdesc.models.denoisers.classical.estimate_sigma`).
    ``profile``: one of the package's profiles (``np`` normal, ``refilter``, ``vn``, ``vn_old``,
    ``high``, ``deb``). Not a Keras graph, no weights: used as a fixed denoiser (a run with it
    trains only its descriptor).

    Shape:
        input ``(B, H, W, 1)`` in [0, 1] -> output the same shape.
    """
    shape = check_input_shape(input_shape, minimum=8)
    if shape[-1] != 1:
        raise ParameterError(f"parameter 'input_shape' must have 1 channel for bm3d, got {shape!r}")
    if sigma is not None:
        sigma = check_float("sigma", sigma, minimum=0.0)
        if sigma == 0:
            raise ParameterError("parameter 'sigma' must be > 0 (sigma = 0 denoises nothing), got 0.0")
    if profile not in PROFILES:
        raise ParameterError(f"parameter 'profile' must be one of {', '.join(PROFILES)}, got {profile!r}")
    model = Bm3d(shape, sigma=sigma, profile=profile, name="bm3d")
    model.build((None, *shape))
    return model
