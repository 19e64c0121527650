"""The extraction pipeline: HPatches geometry, jitter levels, texture filter, determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hpdesc.data import extract as ex

I3 = np.eye(3)


def texture(h: int, w: int, seed: int, amp: float = 1.0) -> np.ndarray:
    """A smooth random texture, grey float32 in [0, 1]."""
    n = np.random.default_rng(seed).standard_normal((h, w)).astype(np.float32)
    a = cv2.GaussianBlur(n, (0, 0), 2.0) + 0.5 * cv2.GaussianBlur(n, (0, 0), 6.0)
    a = (a - a.mean()) / a.std()
    return np.clip(0.5 + 0.18 * amp * a, 0, 1).astype(np.float32)


def ncc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(len(a), -1).astype(float)
    b = b.reshape(len(b), -1).astype(float)
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


@pytest.fixture(scope="module")
def ref():
    return texture(200, 240, 0)


def test_shape_dtype_and_count(ref):
    P = ex.extract_patches(ref, [ref] * 5, [I3] * 5, 25, np.random.default_rng(0))
    assert P.shape == (25, 16, 32, 32) and P.dtype == np.uint8


def test_viewpoint_no_jitter_follows_homography(ref):
    """Without jitter, each target patch is the ref patch seen through H_1_k."""
    Hs = [np.array([[1 - 0.02 * k, 0.03 * k, 3.0 * k], [-0.02 * k, 1 + 0.01 * k, -2.0 * k],
                    [1e-4 * k, -1.5e-4 * k, 1.0]]) for k in range(1, 6)]
    targets = [cv2.warpPerspective(ref, H, (240, 200), flags=cv2.INTER_LINEAR) for H in Hs]
    frames = ex.select_frames(ref, Hs, [t.shape for t in targets], 30, np.random.default_rng(0),
                              ex.ExtractParams().without_jitter())
    assert len(frames) >= 20
    P = ex.sample_patches(ref, targets, Hs, frames)
    for j in range(1, 16):
        assert np.abs(P[:, j].astype(float) - P[:, 0]).mean() < 3.0
        assert ncc(P[:, 0], P[:, j]).min() > 0.97
    # reprojected frame corners lie inside their targets (validity check)
    corners = np.einsum("nab,kb->nka", frames.affines[:, 5, :, :2], ex._CORNERS) + frames.affines[:, 5, None, :, 2]
    xy, w = ex._apply_h(Hs[4], corners)
    assert (w > 0).all() and (xy >= 0).all() and (xy[..., 0] <= 239).all() and (xy[..., 1] <= 199).all()
    # a wrong homography breaks the correspondence
    bad = ex.sample_patches(ref, targets, [np.eye(3)] * 5, frames)
    assert np.abs(bad[:, 5].astype(float) - bad[:, 0]).mean() > 5.0


def test_illumination_no_jitter_same_geometry(ref):
    targets = [np.clip(0.6 * ref ** (1 + 0.1 * k) + 0.05 * k, 0, 1) for k in range(1, 6)]
    P = ex.extract_patches(ref, targets, [I3] * 5, 30, np.random.default_rng(0),
                           ex.ExtractParams().without_jitter())
    for j in range(1, 16):
        assert ncc(P[:, 0], P[:, j]).min() > 0.97
    assert not np.array_equal(P[:, 0], P[:, 1])  # photometric difference kept


def test_jitter_grows_easy_hard_tough(ref):
    P = ex.extract_patches(ref, [ref] * 5, [I3] * 5, 40, np.random.default_rng(1)).astype(float)
    d = np.abs(P[:, 1:] - P[:, :1]).mean(axis=(0, 2, 3)).reshape(3, 5).mean(axis=1)
    assert d[0] < d[1] < d[2]
    assert np.abs(P[:, 1:6] - P[:, :1]).mean() > 1.0  # easy is jittered too


def test_deterministic(ref):
    a = ex.extract_patches(ref, [ref] * 5, [I3] * 5, 20, np.random.default_rng(5))
    b = ex.extract_patches(ref, [ref] * 5, [I3] * 5, 20, np.random.default_rng(5))
    c = ex.extract_patches(ref, [ref] * 5, [I3] * 5, 20, np.random.default_rng(6))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)  # different jitter (and so a different valid set)


def test_textureless_patches_dropped():
    img = np.concatenate([texture(200, 120, 1), texture(200, 120, 2, amp=0.04)], axis=1)
    sel = {}
    for min_std in (0.0, 6.0):
        fr = ex.select_frames(img, [I3] * 5, [img.shape] * 5, 500, np.random.default_rng(0),
                              ex.ExtractParams(min_std=min_std))
        P = ex.sample_patches(img, [img] * 5, [I3] * 5, fr)
        sel[min_std] = P[:, 0].reshape(len(P), -1).std(axis=1)
    assert (sel[0.0] < 6).sum() > 5  # the weak half does give candidates ...
    assert len(sel[6.0]) > 0 and (sel[6.0] >= 6).all()  # ... which the filter drops
    flat = np.full((160, 160), 0.5, np.float32)
    assert len(ex.extract_patches(flat, [flat] * 5, [I3] * 5, 10, np.random.default_rng(0))) == 0


def test_frames_stay_inside_small_targets(ref):
    small = [(120, 140)] * 5  # targets smaller than ref: only frames that fit are kept
    fr = ex.select_frames(ref, [I3] * 5, small, 100, np.random.default_rng(0))
    corners = np.einsum("njab,kb->njka", fr.affines[..., :2], ex._CORNERS) + fr.affines[:, :, None, :, 2]
    assert (corners[:, 1:, :, 0] <= 139).all() and (corners[:, 1:, :, 1] <= 119).all()


def test_bad_inputs(ref):
    with pytest.raises(ValueError, match="5 homographies"):
        ex.extract_patches(ref, [ref] * 5, [I3] * 4, 5, np.random.default_rng(0))
    with pytest.raises(ValueError, match="2-D"):
        ex.extract_patches(np.zeros((10, 10, 3)), [ref] * 5, [I3] * 5, 5, np.random.default_rng(0))
