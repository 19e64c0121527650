"""The one HPatches-style patch extraction pipeline (embedded generator and real-data importer).

Follows the HPatches construction (Balntas et al., CVPR 2017): interest points are detected on
the reference image (OpenCV SIFT, i.e. Difference-of-Gaussians, with its scale and dominant
orientation), spatially non-max suppressed, and each gives an oriented square frame of side
``clip(magnify * keypoint.size, min_side, max_side)`` reference pixels (SIFT's contrast threshold
is lowered to a quarter when an image gives fewer than ``3 n`` candidates). The frame is sampled on
a 65x65 grid (bilinear) to make the ``ref`` patch. For every target image ``k`` (1..5) and level
``e`` / ``h`` / ``t`` the frame is first perturbed by a random geometric jitter *in the
reference image* (independent draw per patch and image; the ``ref`` patch itself is
unjittered), then reprojected through the homography ``H_1_k`` and sampled on the same grid.
All 65x65 patches are reduced to 32x32 with area interpolation and stored as uint8.

Jitter (uniform draws; the tough level is about 3x the easy one, as in HPatches):

=====  ============  ============  ============  =====================
level  rotation      scale         anisotropy    translation (x and y)
=====  ============  ============  ============  =====================
e      +-10 deg      x/÷ 1.10      x/÷ 1.05      +-4 % of patch side
h      +-20 deg      x/÷ 1.20      x/÷ 1.10      +-8 % of patch side
t      +-30 deg      x/÷ 1.30      x/÷ 1.15      +-12 % of patch side
=====  ============  ============  ============  =====================

A candidate is kept only if its frame and all 15 jittered frames lie inside the reference
image and every jittered frame, reprojected, lies inside its target image (``border`` pixels
margin; corners suffice because a homography with positive depth maps the square to a convex
quadrilateral), and if its 32x32 ``ref`` patch has a pixel standard deviation of at least
``min_std`` grey levels (texture-less patches are dropped). The strongest ``n`` survivors (by
detector response) are the patches of the sequence.

:func:`build_dataset` runs the pipeline over sequences, adds noise and writes the patch store.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from hpdesc.data.images import IMAGES, LEVELS
from hpdesc.data.noise import NoiseModel
from hpdesc.data.tasks import TaskMaker
from hpdesc.pixels import quantise

GRID = 65
"""Side of the sampling grid (HPatches' patch size)."""
OUT = 32
"""Side of stored patches."""


@dataclass(frozen=True)
class JitterLevel:
    """Geometric jitter magnitudes of one level (uniform draws in +- these)."""

    rotation_deg: float
    scale: float          # scale factor drawn log-uniformly in [1/(1+scale), 1+scale]
    anisotropy: float     # aspect factor drawn log-uniformly in [1/(1+a), 1+a]
    translation: float    # shift per axis, fraction of the patch side


JITTER = {
    "e": JitterLevel(10.0, 0.10, 0.05, 0.04),
    "h": JitterLevel(20.0, 0.20, 0.10, 0.08),
    "t": JitterLevel(30.0, 0.30, 0.15, 0.12),
}
NO_JITTER = JitterLevel(0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class ExtractParams:
    """Detection, frame and filtering settings of the extraction pipeline."""

    jitter: dict = field(default_factory=lambda: dict(JITTER))
    magnify: float = 8.0           # frame side = magnify * SIFT keypoint size (diameter) ...
    min_side: float = 32.0         # ... clipped to [min_side, max_side] reference pixels
    max_side: float = 64.0
    oriented: bool = True          # rotate frames to the SIFT dominant orientation
    nms_radius: float = 8.0        # no two patch centres closer than this (reference pixels)
    min_std: float = 6.0           # drop ref patches whose pixel std (0..255) is below this
    border: float = 2.0            # margin (pixels) frames must keep from every image edge
    contrast_threshold: float = 0.02  # SIFT contrast threshold; a quarter of it when < 3n candidates

    def without_jitter(self) -> "ExtractParams":
        """The same settings with every jitter level set to zero (for tests and inspection)."""
        return replace(self, jitter={lvl: NO_JITTER for lvl in LEVELS})

    def to_dict(self) -> dict:
        d = asdict(self)
        d["jitter"] = {lvl: asdict(j) for lvl, j in self.jitter.items()}
        return d


@dataclass
class Frames:
    """Selected patch frames of one sequence.

    ``affines[i, j]`` (2x3) maps grid coordinates ``u`` in [-1, 1]^2 to reference-image pixels
    for patch ``i`` and image ``j`` (IMAGES order; ``j = 0`` is the unjittered ``ref`` frame).
    """

    centers: np.ndarray   # (N, 2) x, y
    sides: np.ndarray     # (N,)
    angles: np.ndarray    # (N,) radians
    affines: np.ndarray   # (N, 16, 2, 3)

    def __len__(self) -> int:
        return len(self.centers)

    def subset(self, idx) -> "Frames":
        return Frames(self.centers[idx], self.sides[idx], self.angles[idx], self.affines[idx])


def _target_of(j: int) -> int:
    """Target image number (1..5) of storage image ``j`` (0 for ref)."""
    return 0 if j == 0 else (j - 1) % 5 + 1


def _detect(ref: np.ndarray, contrast_threshold: float):
    img8 = quantise(ref)
    sift = cv2.SIFT_create(contrastThreshold=contrast_threshold)
    kps = sift.detect(img8, None)
    if not kps:
        z = np.zeros(0)
        return np.zeros((0, 2)), z, z, z
    pts = np.array([k.pt for k in kps], dtype=np.float64)
    size = np.array([k.size for k in kps], dtype=np.float64)
    ang = np.array([k.angle for k in kps], dtype=np.float64)
    resp = np.array([k.response for k in kps], dtype=np.float64)
    # OpenCV may gather keypoints from threads in any order: sort on values only.
    order = np.lexsort((ang, size, pts[:, 1], pts[:, 0], -resp))
    return pts[order], size[order], ang[order], resp[order]


def _nms(pts: np.ndarray, radius: float) -> np.ndarray:
    """Greedy suppression in the given (strongest first) order; indices kept."""
    keep: list[int] = []
    if radius <= 0:
        return np.arange(len(pts))
    cell = {}
    r2 = radius * radius
    for i, (x, y) in enumerate(pts):
        cx, cy = int(x // radius), int(y // radius)
        ok = True
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for k in cell.get((cx + dx, cy + dy), ()):
                    if (pts[k, 0] - x) ** 2 + (pts[k, 1] - y) ** 2 < r2:
                        ok = False
                        break
                if not ok:
                    break
            if not ok:
                break
        if ok:
            keep.append(i)
            cell.setdefault((cx, cy), []).append(i)
    return np.array(keep, dtype=np.int64)


def _jitter_affines(n: int, params: ExtractParams, rng: np.random.Generator) -> np.ndarray:
    """(n, 16, 2, 3) jitter maps in grid coordinates; identity for ref."""
    out = np.zeros((n, len(IMAGES), 2, 3))
    out[:, 0, 0, 0] = out[:, 0, 1, 1] = 1.0
    for li, lvl in enumerate(LEVELS):
        jl = params.jitter[lvl]
        sl = slice(1 + 5 * li, 6 + 5 * li)
        rot = np.deg2rad(rng.uniform(-1, 1, (n, 5)) * jl.rotation_deg)
        s = np.exp(rng.uniform(-1, 1, (n, 5)) * np.log1p(jl.scale))
        a = np.exp(rng.uniform(-1, 1, (n, 5)) * np.log1p(jl.anisotropy))
        t = rng.uniform(-1, 1, (n, 5, 2)) * (2.0 * jl.translation)  # grid units: side = 2
        c, si = np.cos(rot), np.sin(rot)
        sx, sy = s * a, s / a
        out[:, sl, 0, 0], out[:, sl, 0, 1] = c * sx, -si * sy
        out[:, sl, 1, 0], out[:, sl, 1, 1] = si * sx, c * sy
        out[:, sl, :, 2] = t
    return out


def _compose(frame: np.ndarray, jit: np.ndarray) -> np.ndarray:
    """frame (N, 2, 3) after jitter (N, 16, 2, 3) -> (N, 16, 2, 3)."""
    lin = np.einsum("nab,njbc->njac", frame[:, :, :2], jit[..., :2])
    off = np.einsum("nab,njb->nja", frame[:, :, :2], jit[..., 2]) + frame[:, None, :, 2]
    return np.concatenate([lin, off[..., None]], axis=-1)


def _apply_h(H: np.ndarray, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Projective map of points (..., 2); returns (points, depth w)."""
    w = H[2, 0] * xy[..., 0] + H[2, 1] * xy[..., 1] + H[2, 2]
    safe = np.where(np.abs(w) < 1e-12, 1e-12, w)
    x = (H[0, 0] * xy[..., 0] + H[0, 1] * xy[..., 1] + H[0, 2]) / safe
    y = (H[1, 0] * xy[..., 0] + H[1, 1] * xy[..., 1] + H[1, 2]) / safe
    return np.stack([x, y], axis=-1), w


_CORNERS = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * (1 + 1.0 / (GRID - 1))


def _inside(xy: np.ndarray, shape, border: float) -> np.ndarray:
    h, w = shape[:2]
    return ((xy[..., 0] >= border) & (xy[..., 0] <= w - 1 - border)
            & (xy[..., 1] >= border) & (xy[..., 1] <= h - 1 - border))


def _valid(affines: np.ndarray, ref_shape, homographies, target_shapes, border: float) -> np.ndarray:
    corners = np.einsum("njab,kb->njka", affines[..., :2], _CORNERS) + affines[:, :, None, :, 2]
    ok = _inside(corners, ref_shape, border).all(axis=(1, 2))
    for j in range(1, len(IMAGES)):
        k = _target_of(j)
        xy, w = _apply_h(homographies[k - 1], corners[:, j])
        ok &= (w > 0).all(axis=1) & _inside(xy, target_shapes[k - 1], border).all(axis=1)
    return ok


# Grid pixel (col, row) of the 65x65 sampling grid -> grid coordinates u in [-1, 1]^2.
_PIX_TO_U = np.array([[2.0 / (GRID - 1), 0, -1.0], [0, 2.0 / (GRID - 1), -1.0], [0, 0, 1.0]])


def _sample(image: np.ndarray, affines: np.ndarray, H: np.ndarray | None) -> np.ndarray:
    """Sample (M, 2, 3) frames of ``image`` (through ``H`` if given) -> (M, 32, 32) float32 in [0,1].

    One bilinear warp per patch onto the 65x65 grid (cheaper than building sampling maps in
    numpy), then area reduction to 32x32.
    """
    out = np.empty((len(affines), OUT, OUT), np.float32)
    img = np.ascontiguousarray(image, dtype=np.float32)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for i, a in enumerate(affines):
        m = np.vstack([a, (0.0, 0.0, 1.0)]) @ _PIX_TO_U  # grid pixel -> ref pixel
        if H is None:
            patch = cv2.warpAffine(img, m[:2], (GRID, GRID), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        else:
            patch = cv2.warpPerspective(img, H @ m, (GRID, GRID), flags=flags, borderMode=cv2.BORDER_REPLICATE)
        out[i] = cv2.resize(patch, (OUT, OUT), interpolation=cv2.INTER_AREA)
    return out


def _to_u8(x: np.ndarray) -> np.ndarray:
    return quantise(x)


def _check_inputs(ref, homographies):
    if np.asarray(ref).ndim != 2:
        raise ValueError(f"reference image must be 2-D grey, got shape {np.shape(ref)}")
    if len(homographies) != 5:
        raise ValueError(f"expected 5 homographies H_1_2..H_1_6, got {len(homographies)}")
    return [np.asarray(H, dtype=np.float64).reshape(3, 3) for H in homographies]


def select_frames(ref: np.ndarray, homographies: Sequence[np.ndarray], target_shapes: Sequence[tuple],
                  n: int, rng: np.random.Generator, params: ExtractParams | None = None) -> Frames:
    """Detect, filter and jitter up to ``n`` patch frames of one sequence (no target pixels needed).

    ``ref``: (H, W) float in [0, 1]; ``homographies``: five 3x3 maps ref -> target k;
    ``target_shapes``: the five target image shapes. Deterministic given ``rng``.
    """
    params = params or ExtractParams()
    Hs = _check_inputs(ref, homographies)
    ref = np.asarray(ref, dtype=np.float32)
    pts, size, ang, _resp = _detect(ref, params.contrast_threshold)
    keep = _nms(pts, params.nms_radius)
    if len(keep) < 3 * n:  # smooth image: accept weaker extrema rather than return few patches
        pts, size, ang, _resp = _detect(ref, params.contrast_threshold / 4)
        keep = _nms(pts, params.nms_radius)
    pts, size, ang = pts[keep], size[keep], ang[keep]
    m = len(pts)
    sides = np.clip(params.magnify * size, params.min_side, params.max_side)
    theta = np.deg2rad(ang) if params.oriented else np.zeros(m)
    r = sides / 2.0
    frame = np.zeros((m, 2, 3))
    frame[:, 0, 0], frame[:, 0, 1] = r * np.cos(theta), -r * np.sin(theta)
    frame[:, 1, 0], frame[:, 1, 1] = r * np.sin(theta), r * np.cos(theta)
    frame[:, :, 2] = pts
    affines = _compose(frame, _jitter_affines(m, params, rng))
    frames = Frames(pts, sides, theta, affines)
    ok = np.flatnonzero(_valid(affines, ref.shape, Hs, [tuple(s) for s in target_shapes], params.border))
    frames = frames.subset(ok)
    if len(frames):
        std = _to_u8(_sample(ref, frames.affines[:, 0], None)).reshape(len(frames), -1).std(axis=1)
        frames = frames.subset(np.flatnonzero(std >= params.min_std)[:max(0, int(n))])
    return frames


def sample_patches(ref: np.ndarray, targets: Sequence[np.ndarray], homographies: Sequence[np.ndarray],
                   frames: Frames) -> np.ndarray:
    """Cut the 16 patches of every frame. Shape: -> ``(N, 16, 32, 32)`` uint8, IMAGES order."""
    Hs = _check_inputs(ref, homographies)
    if len(targets) != 5:
        raise ValueError(f"expected 5 target images, got {len(targets)}")
    n = len(frames)
    out = np.empty((n, len(IMAGES), OUT, OUT), np.float32)
    out[:, 0] = _sample(ref, frames.affines[:, 0], None)
    for k in range(1, 6):
        js = [j for j in range(1, len(IMAGES)) if _target_of(j) == k]
        got = _sample(targets[k - 1], frames.affines[:, js].reshape(-1, 2, 3), Hs[k - 1])
        out[:, js] = got.reshape(n, len(js), OUT, OUT)
    return _to_u8(out)


def extract_patches(ref: np.ndarray, targets: Sequence[np.ndarray], homographies: Sequence[np.ndarray],
                    n: int, rng: np.random.Generator, params: ExtractParams | None = None) -> np.ndarray:
    """Up to ``n`` HPatches-style patch rows of one sequence.

    ``ref`` and ``targets``: (H, W) grey float in [0, 1]; ``homographies[k-1]`` maps ref pixels
    to target ``k`` pixels. Shape: -> ``(N, 16, 32, 32)`` uint8 in IMAGES order, ``N <= n``.
    """
    frames = select_frames(ref, homographies, [np.shape(t) for t in targets], n, rng, params)
    return sample_patches(ref, targets, homographies, frames)


# --- dataset building -----------------------------------------------------------------------

@dataclass
class SequenceSource:
    """A sequence to extract: ``load()`` returns ``(ref, targets, homographies)``.

    ``load_geometry()`` (optional) returns ``(ref, homographies, target_shapes)`` without
    decoding the targets; the first pass uses it when given.
    """

    name: str
    load: Callable[[], tuple]
    load_geometry: Callable[[], tuple] | None = None


def _key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def build_dataset(path, sources: Sequence[SequenceSource], n_patches: int, seed: int, noise: NoiseModel,
                  params: ExtractParams, config: dict,
                  splits: Callable[[list[str]], dict[str, tuple[list[str], list[str]]]],
                  progress: Callable[[int, int], None] | None = None, tasks: TaskMaker | None = None) -> Path:
    """Extract every source, add noise and write an hpdesc patch file atomically.

    Two passes keep memory bounded: frames first (they fix the per-sequence counts the store
    needs up front), then pixels, one sequence at a time. Random streams are keyed on
    ``(seed, sequence name)``, so a sequence's patches do not depend on the others.
    ``splits(kept_names)`` returns ``{split: (train, test)}``. Sequences that yield no patch are
    left out and listed in the config as ``dropped``. ``progress(done, total)`` counts both
    passes (total = 2 x sequences). ``tasks``: stores each split's benchmark tasks
    (:class:`~hpdesc.data.store.DatasetWriter`).
    """
    from hpdesc.atomic import check_writable
    from hpdesc.data.store import DatasetWriter

    check_writable(path)  # before the extraction, not after it
    total = 2 * len(sources)
    done = 0
    frames: dict[str, Frames] = {}
    for src in sources:
        if src.load_geometry is not None:
            ref, Hs, shapes = src.load_geometry()
        else:
            ref, targets, Hs = src.load()
            shapes = [np.shape(t) for t in targets]
        rng = np.random.default_rng([int(seed), _key(src.name), 1])
        frames[src.name] = select_frames(ref, Hs, shapes, n_patches, rng, params)
        done += 1
        if progress:
            progress(done, total)
    kept = [s for s in sources if len(frames[s.name])]
    names = [s.name for s in kept]
    config = dict(config)
    config["dropped"] = [s.name for s in sources if not len(frames[s.name])]
    config["patches_per_sequence"] = {s.name: len(frames[s.name]) for s in kept}
    with DatasetWriter(path, names, [len(frames[n]) for n in names], config, tasks=tasks) as w:
        for src in sources:
            if src.name in frames and len(frames[src.name]):
                ref, targets, Hs = src.load()
                clean = sample_patches(ref, targets, Hs, frames[src.name])
                noisy = noise.apply(clean, np.random.default_rng([int(seed), _key(src.name), 2]))
                w.put(src.name, clean, noisy)
            done += 1
            if progress:
                progress(done, total)
        for split, (train, test) in splits(names).items():
            w.set_split(split, train=train, test=test)
    return Path(path)
