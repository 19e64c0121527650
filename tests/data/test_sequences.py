"""Importing the hpatches-sequences-release layout: same pipeline, official splits, clear errors."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from hpdesc.data import extract
from hpdesc.data.sequences import import_sequences, official_splits, read_homography
from hpdesc.data.store import open_dataset
from hpdesc.errors import DataFormatError, UsageError

# official names: i_ajuntament is a split-"a" test sequence, v_there a split-"a" train sequence
I_SEQ, V_SEQ = "i_ajuntament", "v_there"


def _texture(h, w, seed):
    n = np.random.default_rng(seed).standard_normal((h, w)).astype(np.float32)
    a = cv2.GaussianBlur(n, (0, 0), 2.0) + 0.5 * cv2.GaussianBlur(n, (0, 0), 6.0)
    return np.clip(128 + 45 * (a - a.mean()) / a.std(), 0, 255).astype(np.uint8)


def _write_release(root):
    base = _texture(180, 220, 0)
    for name in (I_SEQ, V_SEQ):
        d = root / name
        d.mkdir(parents=True)
        cv2.imwrite(str(d / "1.ppm"), cv2.cvtColor(base, cv2.COLOR_GRAY2BGR))
        for k in range(2, 7):
            if name.startswith("i_"):
                H = np.eye(3)
                img = np.clip(base.astype(float) * (1 - 0.08 * k) + 6 * k, 0, 255).astype(np.uint8)
            else:
                s = k - 1
                H = np.array([[1 - 0.02 * s, 0.02 * s, 2.0 * s], [-0.02 * s, 1 + 0.01 * s, -1.5 * s],
                              [1e-4 * s, -1e-4 * s, 1.0]])
                img = cv2.warpPerspective(base, H, (220, 180), flags=cv2.INTER_LINEAR)
            cv2.imwrite(str(d / f"{k}.ppm"), cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
            np.savetxt(d / f"H_1_{k}", H)
    (root / "README").write_text("not a sequence")


@pytest.fixture()
def release(tmp_path):
    root = tmp_path / "hpatches-sequences-release"
    _write_release(root)
    return root


def test_import_round_trip_and_official_splits(release, tmp_path):
    out = import_sequences(release, tmp_path / "h.h5", n_patches=15, seed=0)
    with open_dataset(out) as ds:
        assert ds.sequences == [I_SEQ, V_SEQ]
        assert all(0 < ds.count(s) <= 15 for s in ds.sequences)
        assert ds.config["source"] == "hpatches-sequences-release"
        splits = ds.splits
        official = official_splits()
        assert splits["a"] == {"train": [V_SEQ], "test": [I_SEQ]}
        for name, sp in splits.items():
            for key in ("train", "test"):
                assert sp[key] == [s for s in official[name][key] if s in (I_SEQ, V_SEQ)]
        assert "illum" in splits and "view" in splits and "full" in splits
        clean, noisy = ds.patches(V_SEQ), ds.patches(V_SEQ, kind="noisy")
    again = import_sequences(release, tmp_path / "h2.h5", n_patches=15, seed=0)
    with open_dataset(again) as ds:
        assert np.array_equal(ds.patches(V_SEQ), clean)
        assert np.array_equal(ds.patches(V_SEQ, kind="noisy"), noisy)
    other = import_sequences(release, tmp_path / "h3.h5", n_patches=15, seed=1)
    with open_dataset(other) as ds:
        assert not np.array_equal(ds.patches(V_SEQ, kind="noisy"), noisy)


def test_real_homographies_drive_the_same_pipeline(release, tmp_path):
    params = extract.ExtractParams().without_jitter()
    out = import_sequences(release, tmp_path / "h.h5", n_patches=15, seed=0, params=params)
    with open_dataset(out) as ds:
        P = ds.patches(V_SEQ).astype(float)
    for j in range(1, 16):
        assert np.abs(P[:, j] - P[:, 0]).mean() < 4.0


def test_progress_counts_both_passes(release, tmp_path):
    seen = []
    import_sequences(release, tmp_path / "h.h5", n_patches=5, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_missing_image_names_folder(release, tmp_path):
    (release / V_SEQ / "4.ppm").unlink()
    with pytest.raises(DataFormatError, match=rf"{V_SEQ}.*missing image 4\.ppm"):
        import_sequences(release, tmp_path / "h.h5", n_patches=5)
    assert not (tmp_path / "h.h5").exists()


@pytest.mark.parametrize("text, why", [("1 0 0\n0 1 0\n", "expected 9 numbers"),
                                       ("1 0 0\n0 x 0\n0 0 1\n", "malformed homography"),
                                       ("0 0 0\n0 0 0\n0 0 0\n", "not finite or not invertible")])
def test_malformed_homography_names_file(release, tmp_path, text, why):
    (release / I_SEQ / "H_1_3").write_text(text)
    with pytest.raises(DataFormatError, match=why) as err:
        import_sequences(release, tmp_path / "h.h5", n_patches=5)
    assert f"{I_SEQ}/H_1_3" in str(err.value)


def test_missing_homography_and_bad_folders(release, tmp_path):
    (release / I_SEQ / "H_1_6").unlink()
    with pytest.raises(DataFormatError, match="missing homography H_1_6"):
        import_sequences(release, tmp_path / "h.h5")
    with pytest.raises(UsageError, match="no such directory"):
        import_sequences(tmp_path / "nope", tmp_path / "h.h5")
    shutil.rmtree(release)
    release.mkdir()
    with pytest.raises(DataFormatError, match="no sequence folders"):
        import_sequences(release, tmp_path / "h.h5")


def test_read_homography_normalises(tmp_path):
    p = tmp_path / "H_1_2"
    p.write_text("2 0 4\n0 2 6\n0 0 2\n")
    np.testing.assert_allclose(read_homography(p), [[1, 0, 2], [0, 1, 3], [0, 0, 1]])
