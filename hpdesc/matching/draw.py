"""Picture of a match: two images side by side, inlier matches in green, the others in red.

Shape: grey images ``(H1, W1)``, ``(H2, W2)``, uint8 or float in [0, 1] (they may differ in size) ->
a BGR uint8 canvas ``(CAPTION + max(H1, H2), W1 + GAP + W2, 3)``, written as PNG atomically.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hpdesc.atomic import atomic_path
from hpdesc.matching.keypoints import to_uint8

GAP = 8
INLIER = (60, 200, 60)      # BGR green
OUTLIER = (40, 40, 220)     # BGR red
MAX_LINES = 300             # per colour; beyond this an even spread is drawn (else the images vanish under lines)
CAPTION = 22                # height of the caption strip above the images


def _spread(idx: np.ndarray, n: int) -> np.ndarray:
    return idx if len(idx) <= n else idx[np.linspace(0, len(idx) - 1, n).astype(int)]


def draw_matches(img1: np.ndarray, img2: np.ndarray, kp1: np.ndarray, kp2: np.ndarray,
                 matches: np.ndarray, inliers: np.ndarray, title: str = "") -> np.ndarray:
    """The canvas: a caption (``title``, counts), outlier lines (red) under inlier lines (green),
    every matched keypoint circled in its colour; at most :data:`MAX_LINES` lines of each colour."""
    a, b = (im if np.asarray(im).dtype == np.uint8 else to_uint8(im) for im in (img1, img2))
    h = max(a.shape[0], b.shape[0])
    canvas = np.full((h + CAPTION, a.shape[1] + GAP + b.shape[1], 3), 255, np.uint8)
    canvas[CAPTION:CAPTION + a.shape[0], :a.shape[1]] = a[..., None]
    x0 = a.shape[1] + GAP
    canvas[CAPTION:CAPTION + b.shape[0], x0:] = b[..., None]
    matches = np.asarray(matches, np.int64).reshape(-1, 2)
    inliers = np.asarray(inliers, bool).reshape(-1)
    n_in = int(inliers.sum())
    text = f"{n_in} inliers (green) / {len(matches)} matches"
    shown = [len(_spread(np.flatnonzero(m), MAX_LINES)) for m in (inliers, ~inliers)]
    if sum(shown) < len(matches):
        text += f", {sum(shown)} lines drawn"
    text = f"{title}: {text}" if title else text
    cv2.putText(canvas, text, (4, CAPTION - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    shift = 4  # sub-pixel drawing: coordinates in 1/16 pixel
    scale = 1 << shift

    def pt(x, y):
        return int(round(x * scale)), int(round((y + CAPTION) * scale))

    for mask, colour in ((~inliers, OUTLIER), (inliers, INLIER)):
        idx = np.flatnonzero(mask)
        for i, j in matches[idx]:
            cv2.circle(canvas, pt(*kp1[i]), 3 * scale, colour, 1, cv2.LINE_AA, shift)
            cv2.circle(canvas, pt(kp2[j, 0] + x0, kp2[j, 1]), 3 * scale, colour, 1, cv2.LINE_AA, shift)
        for i, j in matches[_spread(idx, MAX_LINES)]:
            cv2.line(canvas, pt(*kp1[i]), pt(kp2[j, 0] + x0, kp2[j, 1]), colour, 1, cv2.LINE_AA, shift)
    return canvas


def write_png(path, canvas: np.ndarray) -> Path:
    """Write ``canvas`` as a PNG at ``path`` atomically."""
    ok, buf = cv2.imencode(".png", canvas)
    if not ok:
        raise RuntimeError("OpenCV could not encode the PNG")
    path = Path(path)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buf.tobytes())
    return path


__all__ = ["draw_matches", "write_png"]
