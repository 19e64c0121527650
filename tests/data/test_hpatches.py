"""Import/export of the HPatches release layouts (patch strips), checked by round trips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hpdesc.data.hpatches import detect_layout, export_release, import_release, official_splits
from hpdesc.data.images import IMAGES
from hpdesc.data.store import DatasetWriter, open_dataset
from hpdesc.errors import DataFormatError, UsageError


def _textured(n, seed):
    """Patches with structure (gradients + blobs), not flat, so noise and resizing are visible."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    base = rng.uniform(0, 1, (n, 1, 1, 1)) * xx + rng.uniform(0, 1, (n, 1, 1, 1)) * yy
    blob = rng.uniform(0, 1, (n, 16, 32, 32))
    return np.clip(120 * base + 100 * blob, 0, 255).astype(np.uint8)


@pytest.fixture()
def dataset(tmp_path):
    # real HPatches names so the official splits apply on import
    names, counts = ["i_ajuntament", "v_abstract"], [4, 3]
    path = tmp_path / "src.h5"
    with DatasetWriter(path, names, counts, {"source": "test"}) as w:
        for k, (name, n) in enumerate(zip(names, counts)):
            w.put(name, _textured(n, k), _textured(n, k + 10))
        w.set_split("default", train=[names[0]], test=[names[1]])
    return path


def test_nhpatches_export_import_is_identity(dataset, tmp_path):
    out = tmp_path / "nhp"
    with open_dataset(dataset) as ds:
        export_release(ds, out)
    assert detect_layout(out) == "nhpatches"
    strip = cv2.imread(str(out / "v_abstract" / "h2_noise.png"), cv2.IMREAD_GRAYSCALE)
    assert strip.shape == (3 * 32, 32)
    back = import_release(out, tmp_path / "back.h5")
    with open_dataset(dataset) as a, open_dataset(back) as b:
        assert a.sequences == b.sequences
        for s in a.sequences:
            np.testing.assert_array_equal(a.patches(s, kind="clean"), b.patches(s, kind="clean"))
            np.testing.assert_array_equal(a.patches(s, kind="noisy"), b.patches(s, kind="noisy"))
        assert b.config["source"] == "hpatches-nhpatches"


def test_release_65px_import_resizes_adds_noise_and_official_splits(dataset, tmp_path):
    src = tmp_path / "hpatches-release"
    with open_dataset(dataset) as ds:
        clean = {s: ds.patches(s, kind="clean") for s in ds.sequences}
    want = {}
    for s, arr in clean.items():
        (src / s).mkdir(parents=True)
        big = np.stack([[cv2.resize(p, (65, 65), interpolation=cv2.INTER_CUBIC) for p in arr[:, j]]
                        for j in range(len(IMAGES))], axis=1)  # (N, 16, 65, 65)
        for j, im in enumerate(IMAGES):
            cv2.imwrite(str(src / s / f"{im}.png"), np.concatenate(big[:, j]))
        # what the protocol says the importer must produce: 65 -> 32 with area interpolation
        want[s] = np.stack([[cv2.resize(p, (32, 32), interpolation=cv2.INTER_AREA) for p in big[:, j]]
                            for j in range(len(IMAGES))], axis=1)
    assert detect_layout(src) == "release"
    out = import_release(src, tmp_path / "rel.h5", seed=3)
    with open_dataset(out) as ds:
        assert sorted(ds.sequences) == sorted(want)  # every sequence imported: the loops below see them all
        for s in ds.sequences:
            np.testing.assert_array_equal(ds.patches(s, kind="clean"), want[s])
        got = ds.patches("i_ajuntament", kind="clean").astype(int)
        noisy = ds.patches("i_ajuntament", kind="noisy").astype(int)
        assert np.abs(noisy - got).mean() > 1  # the noise model was applied
        assert ds.config["noise"]  # and recorded
        split_a = ds.split("a")
        official = official_splits()["a"]
        for s in ds.sequences:
            assert (s in split_a["test"]) == (s in official["test"])
            assert (s in split_a["train"]) == (s in official["train"])


def test_import_errors_name_the_file(dataset, tmp_path):
    out = tmp_path / "nhp"
    with open_dataset(dataset) as ds:
        export_release(ds, out)
    (out / "v_abstract" / "t4.png").unlink()
    with pytest.raises(DataFormatError, match=r"v_abstract/t4.png: missing image"):
        import_release(out, tmp_path / "x.h5")
    assert not (tmp_path / "x.h5").exists()
    with pytest.raises(DataFormatError, match="no sequence folders"):
        detect_layout(tmp_path / "nhp" / "v_abstract")
    with pytest.raises(UsageError, match="already exists"):
        with open_dataset(dataset) as ds:
            export_release(ds, out)


def test_strip_of_other_patch_count_is_refused(dataset, tmp_path):
    out = tmp_path / "nhp"
    with open_dataset(dataset) as ds:
        export_release(ds, out)
    p = out / "i_ajuntament" / "e3.png"
    img = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(p), img[:64])
    with pytest.raises(DataFormatError, match="different patch counts"):
        import_release(out, tmp_path / "y.h5")


def test_official_splits_shipped():
    splits = official_splits()
    assert {"a", "b", "c", "illum", "view", "full"} <= set(splits)
    assert len(splits["a"]["test"]) == 40 and len(splits["full"]["test"]) == 116
