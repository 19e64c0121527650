"""The ``onnx`` descriptor and denoiser: layouts, ranges, resizing, bad files, saving with a run, training in front."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "training"))
import onnx_files as F  # noqa: E402
from tiny import make_tiny_dataset, tiny_sets  # noqa: E402

from hpdesc.errors import DataFormatError, UsageError  # noqa: E402
from hpdesc.validate import build_checked  # noqa: E402

RNG = np.random.default_rng(0)
W = RNG.normal(size=(1024, 8)).astype(np.float32)
PATCHES = RNG.random((5, 32, 32, 1), dtype=np.float32)


def _ref(x, lo=0.0, hi=1.0):
    return (lo + x * (hi - lo)).reshape(len(x), -1) @ W


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_descriptor_reads_the_layout_and_takes_the_range(tmp_path, layout):
    path = F.linear_descriptor(tmp_path / "lin.onnx", W, layout=layout)
    model = build_checked("descriptor", "onnx", {"path": str(path)})
    assert model.session.layout == layout
    np.testing.assert_allclose(model.predict(PATCHES), _ref(PATCHES), rtol=1e-4, atol=1e-3)
    m255 = build_checked("descriptor", "onnx", {"path": str(path), "input_range": [0, 255]})
    np.testing.assert_allclose(m255.predict(PATCHES), _ref(PATCHES, 0, 255), rtol=1e-4, atol=1e-1)


def test_fixed_size_and_batch_resize_and_pad(tmp_path):
    import cv2

    w16 = RNG.normal(size=(256, 4)).astype(np.float32)
    path = F.linear_descriptor(tmp_path / "small.onnx", w16, size=16, batch=2)
    model = build_checked("descriptor", "onnx", {"path": str(path)})
    small = np.stack([cv2.resize(p, (16, 16), interpolation=cv2.INTER_AREA) for p in PATCHES[..., 0]])
    np.testing.assert_allclose(model.predict(PATCHES), small.reshape(5, -1) @ w16, rtol=1e-4, atol=1e-3)  # 5 = 2+2+1


def test_bad_files_are_one_line(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_text("not a model")
    cases = [(junk, "not an ONNX model"), (F.rank3_input(tmp_path / "r3.onnx"), "has rank 3"),
             (F.four_d_output(tmp_path / "4d.onnx"), "must output (B, D)")]
    for path, needle in cases:
        with pytest.raises((UsageError, DataFormatError)) as info:
            build_checked("descriptor", "onnx", {"path": str(path)})
        assert needle in info.value.message and "\n" not in info.value.message, info.value.message
    with pytest.raises(UsageError, match="parameter 'path' is required"):
        build_checked("descriptor", "onnx", {})
    with pytest.raises(UsageError, match="no such file"):
        build_checked("descriptor", "onnx", {"path": str(tmp_path / "missing.onnx")})
    with pytest.raises(UsageError, match="input_range"):
        build_checked("descriptor", "onnx", {"path": str(junk), "input_range": [1, 0]})
    with pytest.raises(UsageError, match="layout"):
        build_checked("descriptor", "onnx", {"path": str(junk), "layout": "CHW"})


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_denoiser_maps_back_to_unit_range(tmp_path, layout):
    path = F.affine_denoiser(tmp_path / "den.onnx", 0.5, 0.25, layout=layout)
    model = build_checked("denoiser", "onnx", {"path": str(path)})
    np.testing.assert_allclose(model.predict(PATCHES), PATCHES * 0.5 + 0.25, atol=1e-6)
    # in [0, 255]: y = 0.5 * 255 x + 0.25 -> (y / 255), clipped
    m255 = build_checked("denoiser", "onnx", {"path": str(path), "input_range": [0, 255]})
    np.testing.assert_allclose(m255.predict(PATCHES), np.clip(PATCHES * 0.5 + 0.25 / 255, 0, 1), atol=1e-6)


def test_saved_model_carries_the_onnx_bytes(tmp_path):
    from hpdesc.training.callbacks import save_keras
    from hpdesc.training.load import load_model

    path = F.linear_descriptor(tmp_path / "lin.onnx", W)
    model = build_checked("descriptor", "onnx", {"path": str(path)})
    save_keras(model, tmp_path / "d" / "descriptor.keras")
    path.unlink()  # the run must not need the original file
    again = load_model(tmp_path / "d" / "descriptor.keras")
    np.testing.assert_allclose(again.predict(PATCHES), model.predict(PATCHES), atol=1e-6)
    cfg = again.get_config()
    assert cfg["path"] == str(path.resolve()) and len(cfg["sha256"]) == 64


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny.h5", n_seq=4, n_patches=8)


def test_train_dncnn_in_front_of_onnx_trains_only_the_denoiser(tiny_data, tmp_path):
    import hpdesc

    path = F.linear_descriptor(tmp_path / "lin.onnx", W)
    sets = tiny_sets(descriptor=False) + [f"descriptor.path='{path}'"]
    res = hpdesc.train(data=tiny_data, denoiser="dncnn", descriptor="onnx", epochs=1, out=tmp_path / "run", sets=sets)
    run = Path(res.run_dir)
    assert res.finished and set(res.history) == {"denoiser"}
    assert not (run / "history_descriptor.csv").exists() and not (run / "checkpoints" / "pool_train.npz").exists()
    bench = json.loads((run / "benchmark.json").read_text())
    assert "dncnn+onnx" in bench["results"]
    path.unlink()
    lr = hpdesc.load_run(run)  # reloads from descriptor.keras alone
    assert lr.descriptor.predict(PATCHES).shape == (5, 8)


@pytest.mark.parametrize("flags, sets, match", [
    ({"denoiser": "identity"}, [], r"onnx is not trainable; use hpdesc describe --descriptor onnx"),
    ({"denoiser": "dncnn", "descriptor_loss": "triplet"}, [],
     r"descriptor_loss = 'triplet' cannot take effect: the descriptor 'onnx' has no weights to train"),
    ({"denoiser": "dncnn"}, ["descriptor_optimizer.learning_rate=0.1"], r"descriptor_optimizer\.learning_rate"),
])
def test_fixed_descriptor_refusals(tmp_path, flags, sets, match):
    from hpdesc import api
    from hpdesc.validate import check_components

    path = F.linear_descriptor(tmp_path / "lin.onnx", W)
    cfg = api.resolve_config(descriptor="onnx", sets=[f"descriptor.path='{path}'", *sets], **flags)
    with pytest.raises(UsageError, match=match):
        check_components(cfg)


def test_cli_describe_with_an_onnx_descriptor(tiny_data, tmp_path):
    from typer.testing import CliRunner

    from hpdesc.cli.main import app
    from hpdesc.data.descfile import open_descriptors

    path = F.linear_descriptor(tmp_path / "lin.onnx", W)
    out = tmp_path / "d.h5"
    res = CliRunner().invoke(app, ["describe", "--descriptor", "onnx", "--set", f"descriptor.path={path}",
                                   "--data", str(tiny_data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    with open_descriptors(out) as d:
        assert d.dim == 8


def test_features_and_match_with_an_onnx_descriptor(tmp_path):
    import cv2
    from skimage import data

    import hpdesc

    path = F.linear_descriptor(tmp_path / "lin.onnx", W, normalize=True)
    img = data.camera()[100:300, 100:300]
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    cv2.imwrite(str(a), img)
    cv2.imwrite(str(b), np.ascontiguousarray(img[5:, 3:]))
    sets = [f"descriptor.path={path}"]
    feats = hpdesc.features([a], descriptor="onnx", sets=sets, max_keypoints=64)
    (row,) = feats["files"]
    assert row["dim"] == 8 and row["keypoints"] > 10 and Path(row["path"]).exists()
    res = hpdesc.match(a, b, descriptor="onnx", sets=sets, max_keypoints=64)
    assert res["matches"] > 10 and res["inliers"] > 5


def test_rebuilt_from_config_checks_the_recorded_sha256(tmp_path):
    from hpdesc.models.descriptors.onnx import OnnxDescriptor

    path = F.linear_descriptor(tmp_path / "lin.onnx", W)
    cfg = build_checked("descriptor", "onnx", {"path": str(path)}).get_config()
    np.testing.assert_allclose(OnnxDescriptor.from_config(cfg).predict(PATCHES), _ref(PATCHES), rtol=1e-4, atol=1e-3)
    F.linear_descriptor(path, W * 2)  # another model under the same name
    with pytest.raises(DataFormatError, match="the ONNX file changed since it was recorded"):
        OnnxDescriptor.from_config(cfg).predict(PATCHES)
