"""The N-HPatches-style noise model: Gaussian read noise plus signal-dependent shot noise, per level.

For a clean grey value ``x`` (0..255) of an image at level ``l``::

    noisy = clip(round(x + sqrt(sigma_l^2 + g_l * x) * Normal(0, 1)), 0, 255)

the heteroscedastic Gaussian form of Poisson-Gaussian sensor noise (Foi et al., "Practical
Poissonian-Gaussian noise modeling", IEEE TIP 2008): ``g_l`` (shot gain, grey levels per
"photon") makes the variance grow with brightness like photon noise (``g_l * Poisson(x / g_l)``
has variance ``g_l * x``), ``sigma_l`` is the signal-independent read noise. ``g_l = 0`` turns
shot noise off. The defaults give a total standard deviation of about 10 / 15 / 20 grey
levels at mid-grey for the easy / hard / tough images, so the noisy patches are visibly noisy
but a denoiser still has structure to recover. The ``ref`` image gets the parameters of
``ref_level`` (``"e"`` by default; ``"clean"`` leaves it noise-free).

Shape: ``(N, 16, 32, 32)`` uint8 in :data:`hpdesc.data.images.IMAGES` order, in and out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from hpdesc.data.images import IMAGES, LEVELS
from hpdesc.errors import ConfigError

NOISE_MODEL = "poisson-gaussian"


@dataclass(frozen=True)
class NoiseModel:
    """Poisson-Gaussian sensor noise with one strength per jitter level (e < h < t)."""

    read_sigma_e: float = 8.0
    read_sigma_h: float = 12.0
    read_sigma_t: float = 16.0
    shot_gain_e: float = 0.25
    shot_gain_h: float = 0.5
    shot_gain_t: float = 1.0
    ref_level: str = "e"

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "ref_level" and (not np.isfinite(v) or v < 0):
                raise ConfigError(f"noise.{f.name} must be a finite number >= 0, got {v!r}")
        if self.ref_level not in LEVELS + ("clean",):
            raise ConfigError(f"noise.ref_level must be one of e, h, t, clean; got {self.ref_level!r}")

    def level_params(self, level: str) -> tuple[float, float]:
        """``(read_sigma, shot_gain)`` of a level ('e', 'h', 't' or 'clean')."""
        if level == "clean":
            return 0.0, 0.0
        return float(getattr(self, f"read_sigma_{level}")), float(getattr(self, f"shot_gain_{level}"))

    def image_params(self) -> list[tuple[float, float]]:
        """``(read_sigma, shot_gain)`` for each of the 16 images, in IMAGES order."""
        return [self.level_params(self.ref_level if name == "ref" else name[0]) for name in IMAGES]

    def std_at(self, level: str, grey: float = 128.0) -> float:
        """Expected noise standard deviation (grey levels) at a given clean grey value."""
        sigma, gain = self.level_params(level)
        return float(np.sqrt(sigma ** 2 + gain * grey))

    def apply(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy copy of ``clean`` patches; deterministic given ``rng``.

        Shape: ``(N, 16, 32, 32)`` uint8 -> same.
        """
        clean = np.asarray(clean)
        if clean.ndim != 4 or clean.shape[1] != len(IMAGES) or clean.dtype != np.uint8:
            raise ValueError(f"expected (N, {len(IMAGES)}, H, W) uint8 patches, got {clean.shape} {clean.dtype}")
        out = np.empty_like(clean)
        for j, (sigma, gain) in enumerate(self.image_params()):
            x = clean[:, j].astype(np.float32)
            std = np.sqrt(np.float32(sigma ** 2) + np.float32(gain) * x)
            y = x + std * rng.standard_normal(x.shape, dtype=np.float32)
            out[:, j] = np.clip(np.rint(y), 0, 255).astype(np.uint8)
        return out

    def to_dict(self) -> dict:
        """JSON-ready parameters (recorded in a dataset's config as ``noise``)."""
        return {"model": NOISE_MODEL, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "NoiseModel":
        """Rebuild from :meth:`to_dict` output (unknown keys are an error)."""
        d = {k: v for k, v in dict(d).items() if k != "model"}
        known = {f.name for f in fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise ConfigError(f"unknown noise parameter(s) {', '.join(bad)}; known: {', '.join(sorted(known))}")
        return cls(**d)
