"""`write_sequences`: hpatches-sequences-release folders from the embedded photos, read back by data/sequences."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hpdesc.data import synth
from hpdesc.data.sequences import find_sequences, image_file, read_homography, read_image
from hpdesc.errors import UsageError

SIZE = 160


@pytest.fixture(scope="module")
def seqs(tmp_path_factory):
    root = tmp_path_factory.mktemp("seqs") / "seqs"
    return synth.write_sequences(root, n_sequences=4, seed=0, image_size=SIZE)


def _ncc(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_layout_is_the_release_one(seqs):
    folders = find_sequences(seqs)
    assert [f.name[:2] for f in folders].count("i_") == 2 and [f.name[:2] for f in folders].count("v_") == 2
    for f in folders:
        assert sorted(p.name for p in f.iterdir()) == sorted(
            [f"{k}.ppm" for k in range(1, 7)] + [f"H_1_{k}" for k in range(2, 7)])
        assert (f / "1.ppm").read_bytes()[:2] == b"P6"  # colour PPM like the release
        for k in range(1, 7):
            assert read_image(image_file(f, k)).shape == (SIZE, SIZE)
    assert not [p for p in seqs.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_i_sequences_have_identity_homographies_and_photometric_change(seqs):
    for f in find_sequences(seqs):
        if f.name.startswith("i_"):
            ref = read_image(f / "1.ppm")
            for k in range(2, 7):
                assert np.array_equal(read_homography(f / f"H_1_{k}"), np.eye(3))
            assert np.abs(read_image(f / "6.ppm") - ref).mean() > 0.02


def test_homographies_map_image_1_onto_image_k(seqs):
    for f in find_sequences(seqs):
        if not f.name.startswith("v_"):
            continue
        ref = read_image(f / "1.ppm")
        for k in range(2, 7):
            H = read_homography(f / f"H_1_{k}")
            assert not np.allclose(H, np.eye(3), atol=1e-3)
            target = read_image(f / f"{k}.ppm")
            warped = cv2.warpPerspective(ref, H, (SIZE, SIZE), flags=cv2.INTER_LINEAR)
            mask = cv2.warpPerspective(np.ones_like(ref), H, (SIZE, SIZE), flags=cv2.INTER_NEAREST) > 0
            mask = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
            assert mask.mean() > 0.3
            good = _ncc(warped[mask], target[mask])
            assert good > 0.9, (f.name, k, good)  # generator 2: relit, blurred, JPEG-compressed
            if k == 6:  # the largest change: a wrong homography (identity) does much worse, so the check can fail
                assert _ncc(ref[mask], target[mask]) < good - 0.1


def test_same_seed_same_bytes_and_pixels_match_the_patch_renderer(seqs, tmp_path):
    again = synth.write_sequences(tmp_path / "again", n_sequences=4, seed=0, image_size=SIZE)
    for f in find_sequences(seqs):
        for name in ["1.ppm", "4.ppm", "H_1_4"]:
            assert (again / f.name / name).read_bytes() == (f / name).read_bytes()
    name, photo, rnd = synth.sequence_plan(4)[1]
    ref, targets, Hs, _ = synth.render_sequence(name, photo, rnd, 0, SIZE, generator=2)
    np.testing.assert_allclose(read_image(seqs / name / "1.ppm"), ref, atol=0.5 / 255 + 1e-6)
    np.testing.assert_allclose(read_homography(seqs / name / "H_1_3"), Hs[1] / Hs[1][2, 2], rtol=1e-12, atol=1e-12)


def test_existing_folder_is_refused_unless_forced(seqs, tmp_path):
    out = tmp_path / "x"
    out.mkdir()
    (out / "keep").write_text("mine")
    with pytest.raises(UsageError, match="already exists"):
        synth.write_sequences(out, n_sequences=2, image_size=SIZE)
    assert (out / "keep").read_text() == "mine"
    synth.write_sequences(out, n_sequences=2, image_size=SIZE, force=True)
    assert not (out / "keep").exists() and len(find_sequences(out)) == 2


def test_failure_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synth, "render_sequence", boom)
    with pytest.raises(RuntimeError):
        synth.write_sequences(tmp_path / "out", n_sequences=2, image_size=SIZE)
    assert list(tmp_path.iterdir()) == []


# ---- generator 2 (release-like): geometry, light, split --------------------------------------------

def _dots_photo(h=600, w=640):
    """A grey photo with mild texture and bright Gaussian dots on a 60-px grid (their centres known)."""
    rng = np.random.default_rng(3)
    img = 0.35 + 0.05 * cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 4)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for cy in range(30, h, 60):
        for cx in range(30, w, 60):
            img += 0.5 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 3.0 ** 2))
    return np.clip(img, 0, 1).astype(np.float32)


def _centroid(img, x, y, r=6):
    """Brightness centroid (background removed) of the window of radius r around (x, y)."""
    x0, y0 = int(round(x)), int(round(y))
    win = img[y0 - r:y0 + r + 1, x0 - r:x0 + r + 1].astype(np.float64)
    win = np.clip(win - np.median(win), 0, None)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return x0 + (win * xx).sum() / win.sum(), y0 + (win * yy).sum() / win.sum()


def test_generator2_homographies_map_points_exactly(monkeypatch):
    """A photo of dots: every dot of image 1 lands where H_1_k sends it in image k (no bias, within 0.5 px)."""
    from hpdesc.data import photos, realistic

    grey = _dots_photo()
    monkeypatch.setattr(photos, "load_photo", lambda name: grey)
    monkeypatch.setattr(realistic, "load_photo_rgb", lambda name: np.repeat(grey[..., None], 3, axis=2))
    size = 240
    ref, targets, Hs, _ = synth.render_sequence("v_dots_0", "dots", 0, seed=0, size=size, generator=2)
    assert not np.allclose(Hs[4], np.eye(3), atol=1e-2)
    peaks = [(x, y) for y in range(8, size - 8) for x in range(8, size - 8)
             if ref[y, x] > 0.6 and ref[y, x] == ref[y - 3:y + 4, x - 3:x + 4].max()]
    assert len(peaks) >= 4
    checked = 0
    for H, target in zip(Hs, targets):
        errs = []
        for x, y in peaks:
            cx, cy = _centroid(ref, x, y)
            p = H @ [cx, cy, 1.0]
            px, py = p[:2] / p[2]
            if 10 <= px < size - 10 and 10 <= py < size - 10:
                qx, qy = _centroid(target, px, py)
                errs.append((qx - px, qy - py))
        errs = np.array(errs)
        checked += len(errs)
        # no bias at all (a half-pixel convention error would show here); single dots within 0.5 px
        # (a dot magnified by the zoom is cut by the centroid window)
        assert np.abs(errs.mean(axis=0)).max() < 0.05 and np.abs(errs).max() < 0.5, errs
    assert checked >= 50


def test_generator2_images_are_the_photo_warped_and_relit():
    """v_: image k is image 1 warped by H_1_k (high correlation where it is in view, not without H);
    i_: identity geometry, a light change that grows and is not one global gain (local shading)."""
    ref, targets, Hs, _ = synth.render_sequence("v_coffee_0", "coffee", 0, seed=0, size=SIZE, generator=2)
    for k in (1, 4):
        warped = cv2.warpPerspective(ref, Hs[k], (SIZE, SIZE), flags=cv2.INTER_LINEAR)
        mask = cv2.warpPerspective(np.ones_like(ref), Hs[k], (SIZE, SIZE), flags=cv2.INTER_NEAREST) > 0
        mask = cv2.erode(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        good = _ncc(warped[mask], targets[k][mask])
        assert good > 0.85, (k, good)
        assert _ncc(ref[mask], targets[k][mask]) < good - 0.2
    ref, targets, Hs, _ = synth.render_sequence("i_camera_0", "camera", 0, seed=0, size=SIZE, generator=2)
    assert all(np.array_equal(H, np.eye(3)) for H in Hs)
    diffs = [np.abs(t - ref).mean() for t in targets]
    assert diffs[4] > diffs[0] > 0
    ratio = (targets[4] + 0.02) / (ref + 0.02)
    assert np.std(np.log(ratio)) > 0.1  # uneven: shading, shadow, tone curve


def test_generator2_is_harder_than_generator1():
    """The strongest v_ view moves image corners much more than generator 1's."""
    def corner_shift(H):
        c = np.array([[0, 0, 1], [SIZE, 0, 1], [SIZE, SIZE, 1], [0, SIZE, 1]], float)
        p = c @ H.T
        return np.linalg.norm(p[:, :2] / p[:, 2:] - c[:, :2], axis=1).mean()

    names = [n for n, _, _ in synth.sequence_plan(24) if n.startswith("v_")]
    plan = {n: (p, r) for n, p, r in synth.sequence_plan(24)}
    g1 = [corner_shift(synth.render_sequence(n, *plan[n], 0, SIZE)[2][4]) for n in names[:4]]
    g2 = [corner_shift(synth.render_sequence(n, *plan[n], 0, SIZE, generator=2)[2][4]) for n in names[:4]]
    assert np.mean(g2) > 1.3 * np.mean(g1)


@pytest.mark.parametrize("n", [2, 4, 24, 36, 50, 80])
def test_test_photos_are_never_in_training(n):
    plan = synth.sequence_plan(n)
    photo_of = {name: photo for name, photo, _ in plan}
    train, test = synth.default_split([name for name, _, _ in plan], photo_of, 0)
    assert test and train and sorted(train + test) == sorted(photo_of)
    assert not {photo_of[t] for t in test} & {photo_of[t] for t in train}


def test_write_only_the_test_split(tmp_path):
    import json

    out = synth.write_sequences(tmp_path / "test", n_sequences=4, image_size=SIZE, split="test")
    info = json.loads((out / "hpdesc-synth.json").read_text())
    assert [f.name for f in find_sequences(out)] == sorted(info["default_split"]["test"]) == sorted(info["sequences"])
    assert info["generator_version"] == 2 and info["split"] == "test"
    with pytest.raises(UsageError, match="unknown split"):
        synth.write_sequences(tmp_path / "x", n_sequences=4, image_size=SIZE, split="val")
    with pytest.raises(UsageError, match="unknown generator"):
        synth.write_sequences(tmp_path / "x", n_sequences=4, image_size=SIZE, generator=3)
