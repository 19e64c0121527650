"""Keypoints of an image (OpenCV detectors) and the 32x32 patches normalised to their scale and orientation.

Each keypoint gives an oriented square *frame* centred on it, of side ``MAGNIFY * size`` image
pixels (``size``: OpenCV's keypoint diameter) and rotated by the keypoint's angle; the frame is
sampled bilinearly on a 65x65 grid and reduced to 32x32 by area interpolation (HPatches' 65x65
patches, stored at 32x32 as HardNet / hpdesc use them). This is exactly how hpdesc cuts its
training patches (:mod:`hpdesc.data.extract`, ``magnify = 8``, same angle convention, same
sampling), so a trained descriptor sees keypoint patches like those it learned on. Unlike the
training patches, the side is not clipped to [32, 64] pixels: clipping would break scale
covariance between two views. ``MAGNIFY = 8`` frames cover a bit more than OpenCV SIFT's own
descriptor window (4 x 4 bins of 1.5 ``size``: 6 x ``size``), the context HardNet-style
descriptors use. Pixels of a frame that fall outside the image repeat the border pixel
(``BORDER_REPLICATE``, as in training), so keypoints near an edge keep a full patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from hpdesc.errors import UsageError, did_you_mean
from hpdesc.pixels import quantise

MAGNIFY = 8.0
"""Frame side in units of the keypoint size (diameter); the training patches' factor."""
GRID = 65
"""Sampling grid side (HPatches' patch size), reduced to :data:`PATCH`."""
PATCH = 32
"""Side of the patches the descriptors see."""


def _sift(n: int):
    return cv2.SIFT_create()


def _orb(n: int):
    # ORB shares its nfeatures among pyramid levels, keeping each level's best: ask for plenty, so
    # that the global sort by response below picks the true strongest n
    return cv2.ORB_create(nfeatures=max(4 * int(n), 10000))


def _akaze(n: int):
    return cv2.AKAZE_create()


_ALL: dict[str, tuple[Callable[[int], object], str]] = {
    "sift": (_sift, "SIFT_create"), "orb": (_orb, "ORB_create"), "akaze": (_akaze, "AKAZE_create")}
DETECTORS: dict[str, Callable[[int], object]] = {k: f for k, (f, attr) in _ALL.items() if hasattr(cv2, attr)}
"""OpenCV detectors by name (those this OpenCV build has): a factory taking the number of keypoints wanted.
AKAZE left OpenCV's main modules in 5.0; with OpenCV 4.x it is there."""


def check_detector(name: str) -> str:
    """``name`` if it is a detector this OpenCV has, else a UsageError listing those it has."""
    if name in DETECTORS:
        return name
    hint = f"available detectors: {', '.join(DETECTORS)}"
    if name in _ALL:
        raise UsageError(f"detector {name!r} is not in this OpenCV build ({cv2.__version__})", hint=hint)
    raise UsageError(f"unknown detector {name!r}{did_you_mean(str(name), DETECTORS)}", hint=hint)


@dataclass(frozen=True)
class Keypoints:
    """Detected keypoints, strongest first: ``xy`` (N, 2) pixels, ``size`` (N,) diameter in pixels,
    ``angle`` (N,) degrees (OpenCV's convention; 0 where the detector gives none), ``response`` (N,)."""

    xy: np.ndarray
    size: np.ndarray
    angle: np.ndarray
    response: np.ndarray

    def __len__(self) -> int:
        return int(self.xy.shape[0])


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Grey float image in [0, 1] -> uint8 (rounded, clipped)."""
    return quantise(np.asarray(image, np.float32))


def detect(image: np.ndarray, detector: str = "sift", max_keypoints: int = 2048) -> Keypoints:
    """The ``max_keypoints`` strongest keypoints (by detector response) of a grey image.

    ``image``: ``(H, W)`` uint8, or float in [0, 1]. Ties and OpenCV's thread-dependent output
    order are broken on the keypoint values, so the result is deterministic.
    """
    check_detector(detector)
    n = int(max_keypoints)
    if n < 1:
        raise UsageError(f"max_keypoints must be at least 1, got {max_keypoints}")
    img = np.asarray(image)
    if img.ndim != 2:
        raise UsageError(f"expected a grey (H, W) image, got shape {img.shape}")
    img8 = img if img.dtype == np.uint8 else to_uint8(img)
    kps = DETECTORS[detector](n).detect(np.ascontiguousarray(img8), None)
    if not kps:
        z = np.zeros(0, np.float64)
        return Keypoints(np.zeros((0, 2)), z, z.copy(), z.copy())
    xy = np.array([k.pt for k in kps], np.float64)
    size = np.array([k.size for k in kps], np.float64)
    angle = np.array([k.angle if k.angle >= 0 else 0.0 for k in kps], np.float64)
    resp = np.array([k.response for k in kps], np.float64)
    order = np.lexsort((angle, size, xy[:, 1], xy[:, 0], -resp))[:n]
    return Keypoints(xy[order], size[order], angle[order], resp[order])


def frames(kps: Keypoints, magnify: float = MAGNIFY) -> np.ndarray:
    """(N, 2, 3) affine maps from grid coordinates ``u`` in [-1, 1]^2 to image pixels.

    Half-side ``magnify * size / 2``; the grid's x axis points along ``angle`` (the convention of
    :mod:`hpdesc.data.extract`, checked in tests against rotated images).
    """
    r = magnify * np.asarray(kps.size, np.float64) / 2.0
    theta = np.deg2rad(np.asarray(kps.angle, np.float64))
    out = np.zeros((len(kps), 2, 3))
    out[:, 0, 0], out[:, 0, 1] = r * np.cos(theta), -r * np.sin(theta)
    out[:, 1, 0], out[:, 1, 1] = r * np.sin(theta), r * np.cos(theta)
    out[:, :, 2] = kps.xy
    return out


# grid pixel (col, row) of the 65x65 sampling grid -> grid coordinates u in [-1, 1]^2
_PIX_TO_U = np.array([[2.0 / (GRID - 1), 0, -1.0], [0, 2.0 / (GRID - 1), -1.0], [0, 0, 1.0]])


def cut_patches(image: np.ndarray, kps: Keypoints, magnify: float = MAGNIFY) -> np.ndarray:
    """The keypoints' normalised patches. Shape: ``(H, W)`` uint8 or [0, 1] float -> ``(N, 32, 32)`` uint8."""
    img = np.asarray(image)
    img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else np.asarray(img, np.float32)
    img = np.ascontiguousarray(img)
    out = np.empty((len(kps), PATCH, PATCH), np.float32)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for i, a in enumerate(frames(kps, magnify)):
        m = np.vstack([a, (0.0, 0.0, 1.0)]) @ _PIX_TO_U  # grid pixel -> image pixel
        g = cv2.warpAffine(img, m[:2], (GRID, GRID), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        out[i] = cv2.resize(g, (PATCH, PATCH), interpolation=cv2.INTER_AREA)
    return to_uint8(out)


__all__ = ["DETECTORS", "GRID", "Keypoints", "MAGNIFY", "PATCH", "check_detector", "cut_patches", "detect",
           "frames", "to_uint8"]
