"""Keypoint features of one image and their interchange format (the D2-Net ``.npz`` file).

One file per image, named ``<image file>.<method>`` (``1.ppm.hpdesc-hardnet``), holding
``keypoints`` (N x 2: x right, y down, pixels), ``scores`` (N) and ``descriptors`` (N x D), so
features written by hpdesc are read by the public HPatches-sequences tooling and back.
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import numpy as np

from hpdesc.atomic import atomic_path
from hpdesc.errors import DataFormatError

FIELDS = ("keypoints", "scores", "descriptors")


@dataclasses.dataclass(frozen=True)
class Features:
    """Keypoints (N x 2 float64, x/y pixels), scores (N) and descriptors (N x D float32) of one image."""

    keypoints: np.ndarray
    scores: np.ndarray
    descriptors: np.ndarray

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float64)
        kp = kp.reshape(0, 2) if kp.size == 0 else kp
        desc = np.asarray(self.descriptors, dtype=np.float32)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        if kp.ndim != 2 or kp.shape[1] < 2:
            raise DataFormatError(f"keypoints must be N x 2, got shape {kp.shape}")
        n = kp.shape[0]
        if desc.size == 0 and n == 0:
            desc = desc.reshape(0, desc.shape[-1] if desc.ndim == 2 else 0)
        if desc.ndim != 2 or desc.shape[0] != n:
            raise DataFormatError(f"descriptors must be N x D with N = {n} keypoints, got shape {desc.shape}")
        if scores.shape[0] != n:
            raise DataFormatError(f"scores must have N = {n} values, got {scores.shape[0]}")
        object.__setattr__(self, "keypoints", kp[:, :2])
        object.__setattr__(self, "descriptors", desc)
        object.__setattr__(self, "scores", scores)

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def dim(self) -> int:
        return int(self.descriptors.shape[1])


def feature_path(image: str | Path, method: str, out_dir: str | Path | None = None) -> Path:
    """``<image>.<method>`` beside the image, or under ``out_dir``."""
    image = Path(image)
    return (Path(out_dir) if out_dir is not None else image.parent) / f"{image.name}.{method}"


def save_features(path: str | Path, feats: Features) -> Path:
    """Write ``feats`` as an ``.npz`` at exactly ``path`` (no ``.npz`` added), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, keypoints=feats.keypoints, scores=feats.scores, descriptors=feats.descriptors)
    return path


def load_features(path: str | Path) -> Features:
    """Read a feature file; a missing file, a non-npz file or a missing field is a DataFormatError."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"no feature file {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("keypoints", "descriptors") if k not in z.files]
            if missing:
                raise DataFormatError(f"{path} has no {', '.join(missing)} (fields: {', '.join(z.files) or 'none'})")
            kp = z["keypoints"]
            desc = z["descriptors"]
            scores = z["scores"] if "scores" in z.files else np.ones(len(kp), np.float32)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"cannot read {path} as a feature .npz: {exc}") from None
    from hpdesc.data.descfile import refuse_non_finite

    refuse_non_finite(np.asarray(desc, np.float32), path)  # scored as they are, they give meaningless numbers
    refuse_non_finite(np.asarray(kp, np.float64), path, "keypoints")
    return Features(kp, scores, desc)
