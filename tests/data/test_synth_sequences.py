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
            assert good > 0.95, (f.name, k, good)
            if k == 6:  # the largest change: a wrong homography (identity) does much worse, so the check can fail
                assert _ncc(ref[mask], target[mask]) < good - 0.1


def test_same_seed_same_bytes_and_pixels_match_the_patch_renderer(seqs, tmp_path):
    again = synth.write_sequences(tmp_path / "again", n_sequences=4, seed=0, image_size=SIZE)
    for f in find_sequences(seqs):
        for name in ["1.ppm", "4.ppm", "H_1_4"]:
            assert (again / f.name / name).read_bytes() == (f / name).read_bytes()
    name, photo, rnd = synth.sequence_plan(4)[1]
    ref, targets, Hs, _ = synth.render_sequence(name, photo, rnd, 0, SIZE)
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
