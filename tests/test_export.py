"""`hpdesc export`: float32 ONNX / SavedModel graphs of a run, checked against hpdesc's own numbers.

One tiny run trained at the default (mixed bfloat16) precision is exported both ways; the
written graphs are run by onnxruntime / TensorFlow and compared with the run's models rebuilt in
float32 and run by hpdesc's own inference pipeline (numpy uint8 rounding between the stages),
and with `hpdesc describe`'s bfloat16 descriptors. The docs/deploying.md snippets run here too.
"""

from __future__ import annotations

import fcntl
import os

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent / "training"))
from tiny import TINY, make_tiny_dataset  # noqa: E402

import hpdesc  # noqa: E402
from hpdesc.errors import UsageError  # noqa: E402
from hpdesc.cli.main import app  # noqa: E402

pytest.importorskip("onnxruntime", reason="the export tests need the export packages (pip install -e '.[test]')")

DOCS = Path(__file__).resolve().parent.parent / "docs" / "deploying.md"
# the run trains at the default precision (mixed bfloat16), which is what the export must undo
MIXED = [s for s in TINY if not s.startswith("training.precision")] + ["benchmark.baselines=[]"]


def _shared(tmp_path_factory, name: str, make) -> Path:
    """``make(path)`` once per test session, also across xdist workers (they share the base temp's
    parent; an flock serialises them), so the tiny run is trained and each export made only once."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    target, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            make(target)
            done.touch()
    return target


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return _shared(tmp_path_factory, "export-tiny.h5",
                   lambda p: make_tiny_dataset(p, n_seq=4, n_patches=8))


@pytest.fixture(scope="module")
def run(tiny_data, tmp_path_factory):
    def train(out):
        res = hpdesc.train(data=tiny_data, sets=MIXED, epochs=1, out=out)
        assert res.finished and res.config.training.precision == "mixed"

    return _shared(tmp_path_factory, "export-run", train)


@pytest.fixture(scope="module")
def patches(tiny_data):
    """uint8 (64, 32, 32) noisy patches of the test split (what describe reads) and the float input."""
    from hpdesc.data.batches import to_float
    from hpdesc.data.store import open_dataset

    with open_dataset(tiny_data) as ds:
        seq = ds.split("default")["test"][0]
        u8 = np.asarray(ds.patches(seq, kind="noisy"))[:4].reshape((-1, 32, 32))
    return u8, to_float(u8)


@pytest.fixture(scope="module")
def hpdesc32(run):
    """The run's models rebuilt in float32 (hpdesc.export.float32_model) inside hpdesc's Pipeline."""
    from hpdesc.export import float32_model
    from hpdesc.inference.pipeline import Pipeline

    lr = hpdesc.load_run(run)
    den = float32_model(lr.config, "denoiser", lr.denoiser)
    desc = float32_model(lr.config, "descriptor", lr.descriptor)
    return Pipeline(den, desc), den, desc


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
    """``exported(what, fmt)``: the run's export folder, made once per session (exports cost seconds)."""

    def make(what: str, fmt: str, out: Path) -> None:
        if (what, fmt) == ("pipeline", "onnx"):  # this one through the CLI, with its defaults
            res = CliRunner().invoke(app, ["export", "--run", str(run), "--out", str(out)])
            assert res.exit_code == 0, res.output
            assert f"wrote {out / 'model.onnx'}" in " ".join(res.output.split())
        else:
            hpdesc.export_run(run=run, what=what, format=fmt, out=out)

    def get(what: str, fmt: str) -> Path:
        return _shared(tmp_path_factory, f"export-{what}-{fmt}", lambda out: make(what, fmt, out))

    return get


def _run_export(fmt: str, folder: Path, x: np.ndarray) -> np.ndarray:
    from hpdesc.export import run_onnx, run_saved_model

    return run_onnx(folder / "model.onnx", x) if fmt == "onnx" else run_saved_model(folder, x)


def _check_stage(what, fmt, exported, patches, hpdesc32):
    """The exported descriptor (denoiser) vs the float32 model run by hpdesc: <= 1e-4 (<= 1/255)."""
    from hpdesc.inference.predict import batch_fn

    u8, x = patches
    _, den, desc = hpdesc32
    want = batch_fn(desc if what == "descriptor" else den)(x)
    got = _run_export(fmt, exported(what, fmt), x)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= (1e-4 if what == "descriptor" else 1 / 255)
    # any batch size: one patch and an odd number go through the same graph
    assert _run_export(fmt, exported(what, fmt), x[:1]).shape == (1, *want.shape[1:])
    assert _run_export(fmt, exported(what, fmt), x[:7]).shape == (7, *want.shape[1:])


@pytest.mark.slow
@pytest.mark.parametrize("what, fmt", [("descriptor", "onnx"), ("denoiser", "saved_model")])
def test_stage_export_matches_hpdesc_in_float32(what, fmt, exported, patches, hpdesc32):
    _check_stage(what, fmt, exported, patches, hpdesc32)


@pytest.mark.slow
@pytest.mark.parametrize("what, fmt", [("descriptor", "saved_model"), ("denoiser", "onnx")])
def test_stage_export_matches_hpdesc_in_float32_other_format(what, fmt, exported, patches, hpdesc32):
    _check_stage(what, fmt, exported, patches, hpdesc32)


@pytest.mark.parametrize("fmt", ["onnx", "saved_model"])
def test_pipeline_export_matches_hpdesc_and_describe(fmt, run, tiny_data, exported, hpdesc32):
    """The pipeline graph (rounding inside) = hpdesc's float32 pipeline, and ~ `hpdesc describe` (bfloat16)."""
    from hpdesc.data.batches import to_float
    from hpdesc.data.descfile import open_descriptors
    from hpdesc.data.store import open_dataset

    described = hpdesc.describe_run(run, tiny_data)  # hpdesc describe at the run's precision (cached by training)
    with open_descriptors(described) as d, open_dataset(tiny_data) as ds:
        seq = d.sequences[0]
        u8 = np.asarray(ds.patches(seq, kind="noisy"))
        bf16 = np.asarray(d.get(seq)).reshape((-1, d.dim))
    got = _run_export(fmt, exported("pipeline", fmt), to_float(u8))
    want = hpdesc32[0].describe(u8).reshape((-1, got.shape[1]))
    # a denoised value on a rounding boundary may round the other way: nearly all rows agree to 1e-4
    close = np.abs(got - want).max(axis=1) <= 1e-4
    assert close.mean() >= 0.95, np.abs(got - want).max(axis=1)
    cos = np.sum(got * bf16, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(bf16, axis=1))
    assert cos.min() >= 0.999, cos.min()


def test_model_card(exported):
    import keras

    card = (exported("pipeline", "saved_model") / "MODEL.md").read_text(encoding="utf-8")
    for needle in ("`dncnn`", "`hardnet`", "depth=3", "dim=16", "1 epoch x 64 triplets", "precision `mixed`",
                   "| dncnn+hardnet |", "Denoising PSNR", "float32 `(B, 32, 32, 1)`", "`patches`",
                   "TensorFlow SavedModel", f"Keras {keras.__version__}", f"hpdesc {hpdesc.__version__}",
                   "uint8 levels", "unit L2 norm"):
        assert needle in card, needle
    card = (exported("pipeline", "onnx") / "MODEL.md").read_text(encoding="utf-8")
    assert "ONNX opset" in card and "output `descriptors`" in card


def test_export_folder_is_replaced_whole_or_refused(tmp_path):
    """An earlier export is replaced whole, a failed export leaves the old one, another folder is refused."""
    from hpdesc.export import atomic_folder, check_out

    out = tmp_path / "exp"
    with atomic_folder(out) as tmp:
        (tmp / "model.onnx").write_text("one")
        (tmp / "MODEL.md").write_text("card")
    check_out(out)
    with pytest.raises(RuntimeError):
        with atomic_folder(out) as tmp:
            (tmp / "MODEL.md").write_text("half")
            raise RuntimeError("converter failed")
    assert (out / "model.onnx").read_text() == "one"
    with atomic_folder(out) as tmp:
        (tmp / "MODEL.md").write_text("two")
    assert sorted(p.name for p in out.iterdir()) == ["MODEL.md"] and (out / "MODEL.md").read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["exp"]  # no temporary left behind
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(UsageError, match="not an hpdesc export"):
        check_out(other)


def test_deploying_snippets(run, patches, exported, hpdesc32):
    """Every Python snippet of docs/deploying.md runs on the tiny run and gives hpdesc's descriptors."""
    u8, _ = patches
    want = hpdesc32[0].describe(u8[:, None])[:, 0]
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 4
    ran = []
    for code in blocks:
        code = (code.replace('"runs/my-run/export/pipeline-onnx"', repr(str(exported("pipeline", "onnx"))))
                .replace('"runs/my-run/export/pipeline-saved_model"', repr(str(exported("pipeline", "saved_model"))))
                .replace('"runs/my-run"', repr(str(run))))
        assert "runs/my-run" not in code
        code = re.sub(r"patches_u8 = .*", "patches_u8 = PATCHES", code)
        ns = {"PATCHES": u8}
        exec(compile(code, str(DOCS), "exec"), ns)  # noqa: S102 - the documented snippet, verbatim
        got = np.asarray(ns["descriptors"])
        assert got.shape == want.shape
        cos = np.sum(got * want, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
        ran.append(float(cos.min()))
    # the exported graphs (onnxruntime, OpenCV, SavedModel) are float32; plain Keras computes in bfloat16
    assert min(ran[1:]) >= 0.99999 and ran[0] >= 0.999, ran


def test_refusals(run, monkeypatch, tmp_path):
    import importlib.util

    from hpdesc import registry
    from hpdesc.export import exportable

    sift = registry.build("descriptor", "sift", input_shape=(32, 32, 1))
    with pytest.raises(UsageError, match="'sift' runs numpy / OpenCV code, not a Keras graph"):
        exportable(sift, "sift", "descriptor")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tf2onnx" else real(name, *a))
    res = CliRunner().invoke(app, ["export", "--run", str(run), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and 'pip install "hpdesc[export]"' in res.output and "tf2onnx" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "x").exists()
    monkeypatch.undo()
    for args, msg in ((["--format", "tflite"], "unknown export format 'tflite'"),
                      (["--what", "pipe"], "Did you mean 'pipeline'?"),
                      (["--out", str(tmp_path / "d.onnx")], "give a folder")):
        res = CliRunner().invoke(app, ["export", "--run", str(run), *args])
        assert res.exit_code == 2 and msg in res.output, res.output


def test_identity_and_denoiser_only_runs(tmp_path):
    """What a run does not have cannot be exported; a pipeline without a denoiser is the descriptor."""
    from types import SimpleNamespace

    import keras

    from hpdesc.export import resolve_what

    cfg = SimpleNamespace(denoiser=SimpleNamespace(name="identity"))
    identity = keras.Model(*(lambda i: (i, keras.layers.Identity()(i)))(keras.Input((32, 32, 1))))
    desc = object()
    assert resolve_what(None, cfg, identity, desc) == "pipeline"
    with pytest.raises(UsageError, match="'identity': nothing to export"):
        resolve_what("denoiser", cfg, identity, desc)
    assert resolve_what(None, cfg, keras.Sequential([keras.layers.Dense(1)]), None) == "denoiser"
    with pytest.raises(UsageError, match="no descriptor"):
        resolve_what("pipeline", cfg, identity, None)


@pytest.mark.slow
def test_ffdnet_plugin_model_exports(tiny_data, tmp_path):
    """A plugin's Keras model (the example ffdnet, with its own layers and a median) exports and matches."""
    pytest.importorskip("hpdesc_ffdnet")
    import cv2

    from hpdesc.data.batches import to_float
    from hpdesc.export import float32_model, run_onnx
    from hpdesc.inference.predict import batch_fn

    # untrained (0 epochs: the export is what is tested), but not the identity it starts from
    res = hpdesc.train(data=tiny_data, denoiser="ffdnet", sets=["denoiser.depth=3", "denoiser.filters=8",
                       "denoiser.final_init=orthogonal", "training.denoiser_epochs=0", "benchmark.enabled=false"],
                       out=tmp_path / "run")
    out = hpdesc.export_run(run=res.run_dir, out=tmp_path / "ffdnet")
    assert out.what == "denoiser" and "hpdesc-ffdnet" in (out.path / "MODEL.md").read_text(encoding="utf-8")
    lr = hpdesc.load_run(res.run_dir)
    x = to_float(np.random.default_rng(1).integers(0, 256, (5, 32, 32), dtype=np.uint8))
    want = batch_fn(float32_model(lr.config, "denoiser", lr.denoiser))(x)
    assert np.abs(run_onnx(out.model_file, x) - want).max() <= 1 / 255
    net = cv2.dnn.readNetFromONNX(str(out.model_file))
    net.setInput(x)
    assert np.abs(net.forward() - want).max() <= 1 / 255


def test_quantize_layer_is_hpdesc_rounding():
    """The pipeline graph's rounding = to_uint8 then to_float (what hpdesc does between the stages), ties included."""
    from hpdesc.data.batches import to_float, to_uint8
    from hpdesc.models.layers import QuantizeUint8

    x = np.random.default_rng(1).normal(0.5, 0.6, (64, 32, 32, 1)).astype(np.float32)  # out of range too
    x[0, 0, :, 0] = (np.arange(32, dtype=np.float32) + 0.5) / 255  # halfway between two levels
    assert np.array_equal(np.asarray(QuantizeUint8()(x)), to_float(to_uint8(x)))


@pytest.mark.slow
@pytest.mark.parametrize("kind, name, params", [
    ("denoiser", "dncnn", {"depth": 3, "filters": 4}), ("denoiser", "unet", {"filters": 4}), ("denoiser", "unet16", {}),
    ("denoiser", "autoencoder", {"filters": 4}), ("descriptor", "hardnet", {"filters": 4, "dim": 8}),
    ("descriptor", "raw", {}), ("descriptor", "resnet50", {"hidden": 0, "dim": 8})])
def test_every_builtin_keras_model_exports_and_opencv_reads_it(kind, name, params, tmp_path):
    """Every built-in Keras model converts (onnxruntime agrees to 1e-4) and OpenCV's DNN module runs the file."""
    import cv2

    from hpdesc import registry
    from hpdesc.export.graph import _float32_policy
    from hpdesc.export.writers import write_onnx
    from hpdesc.export import check_patches, export_graph, run_onnx

    with _float32_policy():
        model = registry.build(kind, name, input_shape=(32, 32, 1), **params)
    graph = export_graph(kind, model if kind == "denoiser" else None, model if kind == "descriptor" else None)
    x = check_patches(8)
    want = np.asarray(graph.predict_on_batch(x))
    write_onnx(graph, tmp_path / "m.onnx", "out")
    assert np.abs(run_onnx(tmp_path / "m.onnx", x) - want).max() <= 1e-4
    net = cv2.dnn.readNetFromONNX(str(tmp_path / "m.onnx"))
    net.setInput(x)
    assert np.abs(net.forward() - want).max() <= 1e-4
