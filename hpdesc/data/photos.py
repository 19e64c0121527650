"""Source photographs of the embedded dataset: images that installed packages ship (no network).

scikit-image bundles a set of real photographs in ``skimage/data`` and matplotlib ships
``grace_hopper.jpg`` in its sample data. They are read straight from those files with OpenCV
(never through ``skimage.data``'s fetchers, which may try the network) and converted to grey
float32 in [0, 1]. Photos whose file is missing are skipped, so the list is whatever this
installation has, in a fixed order.

Crops (:func:`crop_view`) give more sequences than photos: crop ``k`` of a photo rescales it by
a random factor and cuts a square window at a different place, keeping the whole rescaled photo
as *context* so that a viewpoint change can be rendered with real pixels around the window.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from hpdesc.errors import DataFormatError

# (name, package, file): real photographs only (no drawings, masks, phantoms, or the motion-blurred
# clock); richest in keypoints first, so small datasets use the best ones.
PHOTO_FILES: tuple[tuple[str, str, str], ...] = (
    ("astronaut", "skimage", "astronaut.png"),
    ("coffee", "skimage", "coffee.png"),
    ("chelsea", "skimage", "chelsea.png"),
    ("camera", "skimage", "camera.png"),
    ("grass", "skimage", "grass.png"),
    ("gravel", "skimage", "gravel.png"),
    ("coins", "skimage", "coins.png"),
    ("motorcycle", "skimage", "motorcycle_left.png"),
    ("ihc", "skimage", "ihc.png"),
    ("grace_hopper", "matplotlib", "grace_hopper.jpg"),
    ("brick", "skimage", "brick.png"),
    ("page", "skimage", "page.png"),
    ("text", "skimage", "text.png"),
    ("hubble", "skimage", "hubble_deep_field.jpg"),
    ("rocket", "skimage", "rocket.jpg"),
    ("moon", "skimage", "moon.png"),
    ("retina", "skimage", "retina.jpg"),
    ("cell", "skimage", "cell.png"),
)


def _package_dir(package: str) -> Path:
    if package == "skimage":
        import skimage

        return Path(skimage.__file__).parent / "data"
    if package == "matplotlib":
        import matplotlib

        return Path(matplotlib.get_data_path()) / "sample_data"
    raise ValueError(package)


def photo_path(name: str) -> Path:
    """File of a photo by name (it may not exist in this installation)."""
    for n, pkg, file in PHOTO_FILES:
        if n == name:
            return _package_dir(pkg) / file
    raise KeyError(name)


@functools.lru_cache(maxsize=None)
def photo_names() -> tuple[str, ...]:
    """Names of the photos this installation can load, in the fixed :data:`PHOTO_FILES` order."""
    out = []
    for name, _pkg, _file in PHOTO_FILES:
        try:
            if photo_path(name).is_file():
                out.append(name)
        except ImportError:
            continue
    return tuple(out)


@functools.lru_cache(maxsize=40)
def _load(name: str, mode: str) -> np.ndarray:
    """Photo ``name`` in PIL ``mode`` (``L`` or ``RGB``) as read-only float32 in [0, 1]."""
    path = photo_path(name)
    from PIL import Image  # matplotlib's own dependency; quieter than libpng via OpenCV

    try:
        with Image.open(path) as im:
            img = np.asarray(im.convert(mode), dtype=np.float32) / 255.0
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read photo {name!r} ({exc})") from None
    img.setflags(write=False)
    return img


def load_photo(name: str) -> np.ndarray:
    """One photo as grey float32 in [0, 1]. Shape: ``(H, W)``."""
    return _load(name, "L")


def load_photo_rgb(name: str) -> np.ndarray:
    """One photo as RGB float32 in [0, 1] (a grey photo has three equal channels). Shape: ``(H, W, 3)``.

    PIL's grey conversion of it (ITU-R 601 weights) is :func:`load_photo` up to rounding.
    """
    return _load(name, "RGB")


@dataclass(frozen=True)
class CropView:
    """A square window of a rescaled photo, with the rescaled photo around it as context."""

    photo: str
    context: np.ndarray  # (H, W) float32: the whole photo rescaled by `scale`
    x0: int
    y0: int
    size: int
    scale: float

    @property
    def image(self) -> np.ndarray:
        """The window itself. Shape: ``(size, size)`` float32."""
        return self.context[self.y0:self.y0 + self.size, self.x0:self.x0 + self.size]

    def to_dict(self) -> dict:
        return {"photo": self.photo, "x0": self.x0, "y0": self.y0, "size": self.size,
                "scale": round(self.scale, 6)}


# Where crop k sits inside the free range (fractions of it): spread so crops of one photo differ.
_ANCHORS = ((0.5, 0.5), (0.1, 0.1), (0.9, 0.9), (0.9, 0.1), (0.1, 0.9))


def crop_view(name: str, index: int, size: int, rng: np.random.Generator) -> CropView:
    """Crop ``index`` of photo ``name``: a ``size`` x ``size`` window of the rescaled photo.

    The photo is rescaled so that its short side is ``size`` times a random factor in
    [1.15, 1.6] (small photos are enlarged, large ones reduced), then the window is placed at
    anchor ``index`` (centre, then the corners, then random places) plus a little random offset.
    """
    img = load_photo(name)
    h, w = img.shape
    factor = float(rng.uniform(1.15, 1.6))
    scale = size * factor / min(h, w)
    nh, nw = max(size, int(round(h * scale))), max(size, int(round(w * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    context = np.clip(cv2.resize(img, (nw, nh), interpolation=interp), 0.0, 1.0)
    fx, fy = _ANCHORS[index] if index < len(_ANCHORS) else tuple(rng.uniform(0, 1, size=2))
    jx, jy = rng.uniform(-0.08, 0.08, size=2)
    x0 = int(round(np.clip(fx + jx, 0, 1) * (nw - size)))
    y0 = int(round(np.clip(fy + jy, 0, 1) * (nh - size)))
    return CropView(name, context, x0, y0, size, scale)
