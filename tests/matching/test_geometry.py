"""Robust homography from matches (OpenCV USAC/MAGSAC) and the match picture."""

import numpy as np

from hpdesc.data.sequences import read_image
from hpdesc.matching.draw import CAPTION, GAP, draw_matches
from hpdesc.matching.extract import make_extractor
from hpdesc.matching.match import estimate_homography, match_pair
from tests.matching.imagepath import photo_pair, tiny_run  # noqa: F401 - fixtures


def _project(H, xy):
    p = np.c_[xy, np.ones(len(xy))] @ H.T
    return p[:, :2] / p[:, 2:]


def _corner_error(H, H_true, w=320, h=240):
    c = np.array([[0, 0], [w, 0], [w, h], [0, h]], float)
    return np.linalg.norm(_project(H, c) - _project(H_true, c), axis=1).mean()


def test_homography_from_matches_with_outliers(photo_pair):
    H_true = photo_pair[2]
    rng = np.random.default_rng(0)
    p1 = rng.uniform(0, 300, (200, 2))
    p2 = _project(H_true, p1) + rng.normal(0, 0.3, (200, 2))
    bad = rng.choice(200, 60, replace=False)
    p2[bad] = rng.uniform(0, 300, (60, 2))
    H, inl = estimate_homography(p1, p2)
    assert _corner_error(H, H_true) < 1.0
    assert not inl[bad].any() or inl[bad].mean() < 0.1
    assert inl.sum() >= 130


def test_too_few_matches_give_no_homography():
    H, inl = estimate_homography(np.zeros((3, 2)), np.zeros((3, 2)))
    assert H is None and inl.shape == (3,) and not inl.any()
    H, inl = estimate_homography(np.zeros((10, 2)), np.zeros((10, 2)))  # degenerate: all at one point
    assert H is None and not inl.any()


def test_match_pair_recovers_the_warp(photo_pair):
    p1, p2, H_true = photo_pair
    ext = make_extractor(descriptor="sift", max_keypoints=500)
    f1, f2 = ext(read_image(p1)), ext(read_image(p2))
    res = match_pair(f1, f2)
    assert len(res["matches"]) > 50 and res["inliers"].mean() > 0.5
    assert _corner_error(res["H"], H_true) < 3.0
    ratio = match_pair(f1, f2, ratio=0.8)
    assert len(ratio["matches"]) < len(res["matches"])


def test_draw_puts_images_side_by_side():
    a = np.full((30, 40), 0.5, np.float32)
    b = np.full((50, 20), 100, np.uint8)
    canvas = draw_matches(a, b, np.array([[5.0, 5.0]]), np.array([[10.0, 10.0]]), np.array([[0, 0]]), np.array([True]))
    assert canvas.shape == (CAPTION + 50, 40 + GAP + 20, 3)
    assert canvas[CAPTION + 25, 30, 0] in (127, 128)  # image 1 kept its grey (not rescaled twice)
    assert (canvas[CAPTION + 40, 40 + GAP + 15] == 100).all()  # uint8 image 2 as it is, away from the line
    empty = draw_matches(a, b, np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2), int), np.zeros(0, bool))
    assert empty.shape == canvas.shape
