"""Release-like sequence images (generator 2): strong viewpoints, real-looking light, a camera.

Generator 1 (:mod:`hpdesc.data.synth`) renders mild changes from a rescaled grey crop; on it every
descriptor scores about the same (docs/matching.md). Generator 2 renders each of the six images of a
sequence the way a camera would have taken it, calibrated so that OpenCV SIFT and ALIKED score on
the embedded test sequences about what they score on the real HPatches release
(``benchmarks/calibrate_sequences.py``, docs/data.md):

- **Geometry**: image ``k`` sees the scene through ``H_k @ A``, where ``A`` maps photo pixels to
  the reference (the crop of :func:`~hpdesc.data.photos.crop_view`) and ``H_k`` is exact, so a
  point of the photo lands where the homography says in every image. ``v_`` sequences use the
  rotating camera of generator 1 with HPatches-strength changes (:data:`VIEWPOINT`: out-of-plane
  tilt up to 60 degrees, scale up to 2x either way, in-plane roll); images are rendered from the
  whole photo at its own resolution, anti-aliased (Gaussian pre-filter for the minification, 2x
  supersampling), so a zoomed-out view is sharp and a zoomed-in one is as soft as the photo.
- **Light** (:data:`LIGHTING`, full strength for ``i_``, a fraction for ``v_``): on the colour
  photo in linear light, a colour-temperature shift (red and blue gains in opposite directions, so
  grey levels change unevenly with hue), exposure, smooth shading across the scene and a cast
  shadow with a soft edge, then a random non-linear tone curve.
- **Camera** (:data:`CAMERA`, every image including the reference): lens blur, vignetting, a little
  sensor noise, the camera's response curve (saturating highlights and crushing shadows) and
  JPEG compression.
"""

from __future__ import annotations

import cv2
import numpy as np

from hpdesc.data.photos import CropView, crop_view, load_photo_rgb

VIEWPOINT = {"tilt_deg": (30.0, 60.0), "roll_deg": 30.0, "zoom": (0.5, 2.0), "zoom_share": 0.5,
             "shift": 0.05, "focal": 1.0, "min_visible": 0.2}
"""``v_`` draws: tilt ``t * U(tilt_deg)`` about a random axis, roll ``t * U(-r, r)``, zoom ``z ** t``
with ``z`` log-uniform in ``zoom`` for a ``zoom_share`` of the sequences (else within 1.25x), shift
up to ``shift`` of the side; weakened until ``min_visible`` of the reference stays in view."""
LIGHTING = {"exposure_log2": 2.0, "wb_log": 0.4, "shading_log": 0.8, "shadow": (0.4, 0.8),
            "shadow_prob": 0.8, "tone": 0.5, "draw_fraction": (0.5, 1.0), "v_strength": 0.25}
"""Light changes at full strength (``t = 1``, image 6 of an ``i_`` sequence): exposure ``2 ** +-1.5``,
white-balance log-gains ``+-0.35`` (red against blue), a smooth log-shading field of amplitude
``0.6``, a cast shadow darkening by a factor in ``shadow`` (with probability ``shadow_prob``), a tone
curve perturbation ``tone``; each drawn at ``draw_fraction`` of its maximum; ``v_`` images get
``v_strength`` of it."""
CAMERA = {"blur_sigma": (0.3, 0.8), "vignette": (0.0, 0.3), "read_noise": (0.002, 0.006), "gamma": 2.2,
          "jpeg_quality": (75, 95), "supersample": 2, "levels": (0.01, 0.99), "levels_to": (0.004, 0.8)}
"""Per image: Gaussian lens blur (px), vignetting (gain loss at the corners), read noise (linear
units), display gamma of the response curve, JPEG quality; ``supersample`` for anti-aliasing.
Per sequence, the camera's exposure is set on the reference (``levels``: its 1st and 99th grey
percentiles, in linear light, go to ``levels_to``) and kept for the five other images, so a dull
photo is recorded with the contrast a camera would give it and the light changes come on top."""

_GREY = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as PIL's grey conversion


def textured_view(photo: str, crop_index: int, size: int, rng: np.random.Generator, scales: int = 3,
                  places: int = 4) -> CropView:
    """Crop ``crop_index`` of ``photo`` framed where the photo has the most to see, as a photographer
    frames a textured planar scene (the release's are): generator 1's crop (:func:`crop_view`) and
    ``scales - 1`` other scales (short side of the rescaled photo ``size`` x U(1.15, up to 3), never
    above the photo's own resolution), each at ``places`` window positions; the window with the most
    OpenCV SIFT keypoints wins."""
    from hpdesc.data.photos import load_photo

    base = crop_view(photo, crop_index, size, rng)
    img = load_photo(photo)
    h, w = img.shape
    top = max(1.6, min(3.0, min(h, w) / size))
    sift = cv2.SIFT_create()
    best, best_n = base, -1
    for n_scale in range(scales):
        if n_scale == 0:
            ctx, scale = base.context, base.scale
        else:
            scale = size * float(rng.uniform(1.15, top)) / min(h, w)
            nh, nw = max(size, int(round(h * scale))), max(size, int(round(w * scale)))
            ctx = np.clip(cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC), 0, 1)
        ch, cw = ctx.shape
        pts = np.array([k.pt for k in sift.detect(np.rint(ctx * 255).astype(np.uint8), None)]).reshape(-1, 2)
        spots = [(int(rng.integers(0, cw - size + 1)), int(rng.integers(0, ch - size + 1))) for _ in range(places)]
        if n_scale == 0:
            spots[0] = (base.x0, base.y0)
        for x0, y0 in spots:
            inside = int(np.sum((pts[:, 0] >= x0 + 8) & (pts[:, 0] < x0 + size - 8)
                                & (pts[:, 1] >= y0 + 8) & (pts[:, 1] < y0 + size - 8)))
            if inside > best_n:
                best, best_n = CropView(photo, ctx, x0, y0, size, scale), inside
    return best


def photo_to_reference(view: CropView, photo_shape: tuple[int, int]) -> np.ndarray:
    """3x3 map from photo pixels to reference pixels (OpenCV's resize geometry, then the crop offset)."""
    h, w = photo_shape
    nh, nw = view.context.shape
    sx, sy = nw / w, nh / h
    return np.array([[sx, 0, 0.5 * sx - 0.5 - view.x0], [0, sy, 0.5 * sy - 0.5 - view.y0], [0, 0, 1.0]])


def _minification(G: np.ndarray, size: int) -> float:
    """Photo pixels per output pixel at the image centre for the photo -> image map ``G``."""
    inv = np.linalg.inv(G)
    c = np.array([size / 2.0, size / 2.0, 1.0])
    p = inv @ c
    J = (inv[:2, :2] * p[2] - np.outer(p[:2], inv[2, :2])) / p[2] ** 2
    return float(np.sqrt(abs(np.linalg.det(J))))


def warp_photo(rgb: np.ndarray, G: np.ndarray, size: int) -> np.ndarray:
    """``rgb`` (photo, linear light) seen through ``G`` (photo pixels -> image pixels), anti-aliased.

    The photo is pre-filtered for the minification at the image centre, sampled on a
    ``supersample``-times finer grid and area-averaged back: pixel ``(x, y)`` of the result is
    centred on the photo point ``G^-1 (x, y)``. Shape: ``(size, size, 3)`` float32.
    """
    ss = int(CAMERA["supersample"])
    m = _minification(G, size)
    src = rgb
    if m > 1.0:
        sigma = 0.5 * np.sqrt(m * m - 1.0)
        src = cv2.GaussianBlur(rgb, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    S = np.array([[ss, 0, 0.5 * (ss - 1)], [0, ss, 0.5 * (ss - 1)], [0, 0, 1.0]])
    big = cv2.warpPerspective(src, S @ G, (ss * size, ss * size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_AREA)


def _smooth_field(size: int, rng: np.random.Generator, cells: int = 3) -> np.ndarray:
    """A smooth random field in about [-1, 1] (bicubic upsampling of a coarse Gaussian grid)."""
    grid = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    field = cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
    return field / max(1e-6, float(np.abs(field).max()))


def _shadow(size: int, rng: np.random.Generator) -> np.ndarray:
    """A cast-shadow mask in [0, 1]: a random half-plane or blob with a soft edge."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if rng.random() < 0.5:
        phi, off = rng.uniform(0, 2 * np.pi), rng.uniform(-0.3, 0.3) * size
        d = (xx - size / 2) * np.cos(phi) + (yy - size / 2) * np.sin(phi) - off
    else:
        cx, cy = rng.uniform(0.1, 0.9, 2) * size
        ax, ay = rng.uniform(0.15, 0.45, 2) * size
        d = (np.sqrt(((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2) - 1.0) * min(ax, ay)
    edge = rng.uniform(0.01, 0.06) * size
    return (1.0 / (1.0 + np.exp(np.clip(d / edge, -30, 30)))).astype(np.float32)


def draw_lighting(size: int, t: float, rng: np.random.Generator, strength: float = 1.0) -> dict:
    """The light of one image at change ``t`` (0: the reference's light): gains and fields."""
    p = LIGHTING
    s = t * strength

    def mag():
        return rng.uniform(*p["draw_fraction"]) * rng.choice([-1.0, 1.0])

    wb = mag() * p["wb_log"] * s
    shadow = None
    if s > 0 and rng.random() < p["shadow_prob"]:
        shadow = 1.0 - rng.uniform(*p["shadow"]) * min(1.0, s) * _shadow(size, rng)
    return {"exposure": 2.0 ** (mag() * p["exposure_log2"] * s), "rgb_gain": np.exp([wb, 0.0, -wb]).astype(np.float32),
            "shading": np.exp(mag() * p["shading_log"] * s * _smooth_field(size, rng)).astype(np.float32),
            "shadow": shadow, "tone": mag() * p["tone"] * s}


def _tone(x: np.ndarray, gamma: float, tone: float) -> np.ndarray:
    """The response curve: display gamma, then a contrast S-curve (``tone > 0``) or its flattening."""
    y = np.power(np.clip(x, 0.0, 1.0), 1.0 / gamma)
    if tone:
        k = 1.0 + 4.0 * abs(tone)
        s = 1.0 / (1.0 + np.exp(-k * (y - 0.5)))
        lo, hi = 1.0 / (1.0 + np.exp(k * 0.5)), 1.0 / (1.0 + np.exp(-k * 0.5))
        s = (s - lo) / (hi - lo)
        y = s if tone > 0 else 2 * y - s  # inverse-ish: flattens mid-tones, stretches the ends
    return np.clip(y, 0.0, 1.0)


def exposure_levels(rgb_lin: np.ndarray) -> tuple[float, float]:
    """``(black, gain)`` that map the reference's ``levels`` grey percentiles to ``levels_to`` (linear)."""
    grey = rgb_lin @ _GREY
    lo, hi = np.quantile(grey, CAMERA["levels"])
    a, b = CAMERA["levels_to"]
    gain = (b - a) / max(float(hi - lo), 1e-3)
    return float(lo - a / gain), float(gain)


def camera_image(rgb_lin: np.ndarray, light: dict, rng: np.random.Generator,
                 levels: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """One image as the camera records it: light on the scene, lens, sensor, response curve, JPEG.

    ``rgb_lin``: the warped scene, ``(size, size, 3)`` linear; ``levels``: the sequence's exposure
    (:func:`exposure_levels` of the reference). Returns grey float32 ``(size, size)`` in
    [0, 1], multiples of 1/255 (decoded from the JPEG).
    """
    c = CAMERA
    size = rgb_lin.shape[0]
    grey = ((rgb_lin * light["rgb_gain"]) @ _GREY - levels[0]) * levels[1]
    grey = grey * light["shading"] * light["exposure"]
    if light["shadow"] is not None:
        grey = grey * light["shadow"]
    grey = cv2.GaussianBlur(grey.astype(np.float32), (0, 0), rng.uniform(*c["blur_sigma"]))
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r2 = ((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / (2 * (size / 2) ** 2)
    grey = grey * (1.0 - rng.uniform(*c["vignette"]) * r2)
    noise = rng.uniform(*c["read_noise"])
    grey = grey + np.sqrt(noise ** 2 + noise * np.clip(grey, 0, None)) * rng.standard_normal(grey.shape).astype(np.float32)
    out8 = np.clip(np.rint(_tone(grey, c["gamma"], light["tone"]) * 255.0), 0, 255).astype(np.uint8)
    q = int(rng.integers(c["jpeg_quality"][0], c["jpeg_quality"][1] + 1))
    ok, buf = cv2.imencode(".jpg", out8, [cv2.IMWRITE_JPEG_QUALITY, q])
    dec = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else out8
    return (dec.astype(np.float32) / np.float32(255.0)).astype(np.float32)


def linear_photo(name: str) -> np.ndarray:
    """The colour photo in linear light (display gamma removed). Shape: ``(H, W, 3)`` float32."""
    return np.power(load_photo_rgb(name), np.float32(CAMERA["gamma"])).astype(np.float32)


__all__ = ["CAMERA", "LIGHTING", "VIEWPOINT", "textured_view", "camera_image", "draw_lighting", "exposure_levels", "linear_photo",
           "photo_to_reference", "warp_photo"]
