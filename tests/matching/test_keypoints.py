"""Keypoint detection and scale/orientation-normalised patches (hpdesc.matching.keypoints)."""

import cv2
import numpy as np
import pytest

from hpdesc.data.photos import load_photo
from hpdesc.errors import UsageError
from hpdesc.matching import keypoints as K


@pytest.fixture(scope="module")
def photo():
    img = load_photo("astronaut")
    return np.ascontiguousarray(img[40:296, 100:356])  # 256 x 256, textured


def _pairs(kp_a, kp_b, M, scale, tol=1.0):
    """Index pairs (i, j): keypoint j of B lies where M maps keypoint i of A, at ``scale`` times its size."""
    proj = kp_a.xy @ M[:, :2].T + M[:, 2]
    out = []
    for i, p in enumerate(proj):
        d = np.linalg.norm(kp_b.xy - p, axis=1)
        j = int(np.argmin(d))
        if d[j] < tol and abs(kp_b.size[j] / (kp_a.size[i] * scale) - 1) < 0.1:
            out.append((i, j))
    return out


@pytest.mark.parametrize("angle,scale", [(40.0, 1.0), (-70.0, 1.5)])
def test_patches_agree_under_rotation_and_scale(photo, angle, scale):
    """The same physical keypoint, detected in a rotated/rescaled copy, gives the same patch."""
    h, w = photo.shape
    big = (int(w * scale) + 40, int(h * scale) + 40)
    M = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    M[:, 2] += (big[0] - w) / 2, (big[1] - h) / 2
    warped = cv2.warpAffine(photo, M, big, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    kp_a = K.detect(photo, "sift", 300)
    kp_b = K.detect(warped, "sift", 3000)
    pairs = _pairs(kp_a, kp_b, M, scale)
    # keep keypoints whose frame lies inside image A (border replication differs between views)
    r = K.MAGNIFY * kp_a.size * np.sqrt(2) / 2
    inside = [(i, j) for i, j in pairs if r[i] < kp_a.xy[i, 0] < w - r[i] and r[i] < kp_a.xy[i, 1] < h - r[i]]
    assert len(inside) >= 15
    ia, ib = map(list, zip(*inside))
    pa = K.cut_patches(photo, kp_a).astype(np.float32)[ia]
    pb = K.cut_patches(warped, kp_b).astype(np.float32)[ib]
    same = np.abs(pa - pb).mean(axis=(1, 2))
    other = np.abs(pa - np.roll(pb, 1, axis=0)).mean(axis=(1, 2))
    # the angles follow the image rotation (same orientation convention as the patch frames)
    turn = (kp_b.angle[ib] - kp_a.angle[ia]) % 360
    assert np.median(np.minimum(np.abs(turn - (-angle % 360)), 360 - np.abs(turn - (-angle % 360)))) < 5
    assert np.median(same) < 8.0, np.median(same)
    assert np.median(same) < 0.4 * np.median(other)


def test_frame_convention_on_a_hand_made_keypoint(photo):
    """A hand-made keypoint: rotating the image by +a and the keypoint angle by -a (OpenCV's angles
    grow clockwise on screen while getRotationMatrix2D turns counter-clockwise) gives the same patch."""
    h, w = photo.shape
    c = (w / 2, h / 2)
    kp = K.Keypoints(np.array([c]), np.array([8.0]), np.array([20.0]), np.array([1.0]))
    M = cv2.getRotationMatrix2D(c, 30.0, 1.0)
    rot = cv2.warpAffine(photo, M, (w, h), flags=cv2.INTER_CUBIC)
    kp_r = K.Keypoints(np.array([c]), np.array([8.0]), np.array([20.0 - 30.0]), np.array([1.0]))
    a = K.cut_patches(photo, kp).astype(float)
    b = K.cut_patches(rot, kp_r).astype(float)
    wrong = K.cut_patches(rot, K.Keypoints(kp.xy, kp.size, np.array([50.0]), kp.response)).astype(float)
    assert np.abs(a - b).mean() < 3.0
    assert np.abs(a - wrong).mean() > 3 * np.abs(a - b).mean()


@pytest.mark.parametrize("detector", ["sift", "orb", "akaze"])
def test_max_keypoints_keeps_the_strongest(photo, detector):
    if detector not in K.DETECTORS:
        with pytest.raises(UsageError, match="not in this OpenCV build"):
            K.detect(photo, detector)
        pytest.skip(f"{detector} is not in OpenCV {cv2.__version__}")
    every = K.detect(photo, detector, 100000)
    few = K.detect(photo, detector, 25)
    assert len(every) > 25 and len(few) == 25
    assert np.all(np.diff(few.response) <= 0)
    assert few.response.min() >= np.sort(every.response)[-25] - 1e-9
    patches = K.cut_patches(photo, few)
    assert patches.shape == (25, 32, 32) and patches.dtype == np.uint8


def test_detect_is_deterministic_and_handles_blank_images(photo):
    a, b = K.detect(photo, "sift", 200), K.detect(photo, "sift", 200)
    assert np.array_equal(a.xy, b.xy) and np.array_equal(a.angle, b.angle)
    blank = K.detect(np.zeros((64, 64), np.float32))
    assert len(blank) == 0 and K.cut_patches(np.zeros((64, 64)), blank).shape == (0, 32, 32)


def test_unknown_detector_lists_the_available_ones():
    with pytest.raises(UsageError) as e:
        K.detect(np.zeros((8, 8)), "sfit")
    assert "Did you mean 'sift'" in e.value.message and "sift, orb" in e.value.hint
    with pytest.raises(UsageError):
        K.detect(np.zeros((8, 8)), "sift", 0)
