"""Every registered denoiser and descriptor: build, forward, save/load, parameter handling.

Parametrized over the installed entry points (``pip install -e .`` declares hpdesc's own), so a
new built-in or an installed plugin gets these checks for free.
"""

from __future__ import annotations

import importlib.metadata
import inspect

import keras
import numpy as np
import pytest

from hpdesc.models import is_trainable, numpy_compute
from hpdesc.models.walk import all_layers

BATCH = 2
SHAPE = (32, 32, 1)
# Built-in baselines documented to ignore ``dim`` (raw: size*size values; sift: always 128).
IGNORES_DIM = {"raw", "sift", "onnx"}  # onnx: the model's own width
INITS = ("he_normal", "glorot_normal", "xavier", "orthogonal")


def _entry_points(group):
    return sorted(importlib.metadata.entry_points(group=group), key=lambda ep: ep.name)


DENOISERS = _entry_points("hpdesc.denoisers")
DESCRIPTORS = _entry_points("hpdesc.descriptors")
ALL = [("denoiser", ep) for ep in DENOISERS] + [("descriptor", ep) for ep in DESCRIPTORS]
IDS = [f"{kind}-{ep.name}" for kind, ep in ALL]


def _builtin(ep) -> bool:
    return ep.value.startswith("hpdesc.")


_ONNX_DIR: list = []


def _required(kind, ep) -> dict:
    """Parameters a component cannot be built without: the ``onnx`` ones need a model file."""
    if not (_builtin(ep) and ep.name == "onnx"):
        return {}
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import onnx_files

    if not _ONNX_DIR:
        _ONNX_DIR.append(Path(tempfile.mkdtemp(prefix="hpdesc-onnx-")))
    path = _ONNX_DIR[0] / f"{kind}.onnx"
    if not path.exists():
        if kind == "descriptor":
            weight = np.random.default_rng(0).normal(size=(1024, 16)).astype(np.float32)
            onnx_files.linear_descriptor(path, weight, normalize=True)
        else:
            onnx_files.affine_denoiser(path, 0.9, 0.05)
    return {"path": str(path)}


def _build(kind, ep, **params):
    factory = ep.load()
    if kind == "descriptor":
        params.setdefault("dim", 128)
    return factory(input_shape=SHAPE, **_required(kind, ep), **params)


def _forward(model, x):
    compute = numpy_compute(model)
    if compute is not None:
        return np.asarray(compute(x))
    return keras.ops.convert_to_numpy(model(x, training=False))


@pytest.fixture(scope="module")
def patches():
    rng = np.random.default_rng(0)
    return rng.random((BATCH, *SHAPE), dtype=np.float32)


def test_builtins_are_registered():
    assert {"unet", "unet16", "autoencoder", "dncnn", "identity"} <= {ep.name for ep in DENOISERS}
    assert {"hardnet", "resnet50", "raw", "sift"} <= {ep.name for ep in DESCRIPTORS}


@pytest.mark.parametrize("kind,ep", ALL, ids=IDS)
def test_forward_save_load(kind, ep, patches, tmp_path):
    model = _build(kind, ep)
    assert isinstance(model, keras.Model)
    if _builtin(ep):
        assert model.name == ep.name
        assert inspect.getdoc(ep.load()).splitlines()[0].strip()  # the plugin listing summary
    out = _forward(model, patches)
    assert out.dtype == np.float32
    assert np.all(np.isfinite(out))
    if kind == "denoiser":
        assert out.shape == patches.shape
    else:
        assert out.ndim == 2 and out.shape[0] == BATCH
        if ep.name not in IGNORES_DIM:
            assert out.shape[1] == 128
        if _builtin(ep):
            np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)

    path = tmp_path / f"{ep.name}.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_forward(reloaded, patches), out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,ep", ALL, ids=IDS)
def test_unknown_parameter_is_type_error(kind, ep):
    with pytest.raises(TypeError):
        _build(kind, ep, no_such_parameter=1)


@pytest.mark.parametrize("kind,ep", [a for a in ALL if _builtin(a[1])],
                         ids=[i for i, a in zip(IDS, ALL) if _builtin(a[1])])
def test_builtin_trainability(kind, ep):
    model = _build(kind, ep)
    takes_activation = "activation" in inspect.signature(ep.load()).parameters
    # Every trainable built-in exposes activation / alpha / init; the baselines have no weights.
    assert is_trainable(model) == takes_activation
    # sift, onnx and the classical denoisers compute in numpy / OpenCV / onnxruntime (not Keras graphs)
    assert (numpy_compute(model) is not None) == (ep.name in ("sift", "nlmeans", "gaussian", "median", "onnx"))


TRAINABLE = [(k, ep) for k, ep in ALL
             if _builtin(ep) and "activation" in inspect.signature(ep.load()).parameters]


@pytest.mark.parametrize("kind,ep", TRAINABLE, ids=[f"{k}-{ep.name}" for k, ep in TRAINABLE])
def test_activation_and_init_variants(kind, ep, patches):
    # resnet50 is slow to build: one variant covers it; the small models try every initializer.
    inits = INITS[-1:] if ep.name == "resnet50" else INITS
    for init in inits:
        model = _build(kind, ep, activation="leaky_relu", alpha=0.1, init=init)
        assert np.all(np.isfinite(_forward(model, patches)))
    assert any(isinstance(layer, keras.layers.LeakyReLU) for layer in all_layers(model))
    with pytest.raises(ValueError, match="activation"):
        _build(kind, ep, activation="swish")
    with pytest.raises(ValueError, match="init"):
        _build(kind, ep, init="uniform")


def _factory(group, name):
    (ep,) = [ep for ep in _entry_points(group) if ep.name == name]
    return ep.load()


@pytest.mark.parametrize("name,layers", [("unet", 5), ("unet16", 16), ("autoencoder", 10)])
def test_unet_family_conv_counts(name, layers):
    model = _factory("hpdesc.denoisers", name)()
    assert sum(isinstance(l, keras.layers.Conv2D) for l in model.layers) == layers
    has_skip = any(isinstance(l, keras.layers.Concatenate) for l in model.layers)
    assert has_skip == (name != "autoencoder")


def test_dncnn_is_residual_with_depth_layers():
    model = _factory("hpdesc.denoisers", "dncnn")(input_shape=(16, 16, 1), depth=5, filters=8)
    assert sum(isinstance(l, keras.layers.Conv2D) for l in model.layers) == 5
    assert sum(isinstance(l, keras.layers.BatchNormalization) for l in model.layers) == 3
    # Zeroing the residual branch makes the network the identity: output = input - R(input).
    for layer in model.layers:
        if layer.name == "conv5":
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    x = np.random.default_rng(1).random((2, 16, 16, 1), dtype=np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), x, atol=1e-6)


def test_identity_returns_input(patches):
    model = _factory("hpdesc.denoisers", "identity")()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(patches)), patches)
    assert not model.weights


def test_hardnet_architecture_and_dim(patches):
    model = _factory("hpdesc.descriptors", "hardnet")(dim=64, dropout=0.1, filters=8)
    assert keras.ops.convert_to_numpy(model(patches)).shape == (BATCH, 64)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [8, 8, 16, 16, 32, 32, 64]
    assert [c.strides[0] for c in convs] == [1, 1, 2, 1, 2, 1, 1]
    assert convs[-1].kernel_size == (8, 8)
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(bns) == 6 and not any(bn.scale or bn.center for bn in bns)
    assert model.get_layer("dropout").rate == 0.1
    # Per-patch standardisation: brightness / contrast changes do not move the descriptor.
    out = keras.ops.convert_to_numpy(model(patches))
    out2 = keras.ops.convert_to_numpy(model(0.5 * patches + 0.2))
    np.testing.assert_allclose(out, out2, atol=1e-4)
    with pytest.raises(ValueError, match="dropout"):
        _factory("hpdesc.descriptors", "hardnet")(dropout=1.5)


def test_resnet50_dim_and_hidden(patches):
    model = _factory("hpdesc.descriptors", "resnet50")(dim=32, hidden=0)
    assert keras.ops.convert_to_numpy(model(patches)).shape == (BATCH, 32)
    assert "head_dense" not in [l.name for l in model.layers]


def test_raw_descriptor_values(patches):
    model = _factory("hpdesc.descriptors", "raw")(size=8, dim=999)
    out = keras.ops.convert_to_numpy(model(patches))
    assert out.shape == (BATCH, 64)
    pooled = patches.reshape(BATCH, 8, 4, 8, 4).mean(axis=(2, 4)).reshape(BATCH, -1)
    pooled -= pooled.mean(axis=1, keepdims=True)
    expected = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    with pytest.raises(ValueError, match="size"):
        _factory("hpdesc.descriptors", "raw")(size=7)


def test_sift_descriptor(patches):
    cv2 = pytest.importorskip("cv2")
    model = _factory("hpdesc.descriptors", "sift")()
    out = numpy_compute(model)(patches)
    assert out.shape == (BATCH, 128) and out.dtype == np.float32
    # Same numbers as OpenCV directly, one centred keypoint spanning the patch, angle 0.
    img = np.rint(patches[0, ..., 0] * 255).astype(np.uint8)
    _, ref = cv2.SIFT_create().compute(img, [cv2.KeyPoint(15.5, 15.5, 32 / 6, 0)])
    np.testing.assert_allclose(out[0], ref[0] / np.linalg.norm(ref[0]), atol=1e-6)
    np.testing.assert_allclose(model.predict(patches, batch_size=1), out)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(patches)), out)
    # RootSIFT: Hellinger kernel, sqrt of the L1-normalised histogram.
    root = _factory("hpdesc.descriptors", "sift")(root=True)
    np.testing.assert_allclose(numpy_compute(root)(patches)[0],
                               np.sqrt(ref[0] / ref[0].sum()), atol=1e-6)
    with pytest.raises(TypeError, match="sift"):
        model(keras.Input(SHAPE))


def test_bad_values_are_value_errors():
    unet = _factory("hpdesc.denoisers", "unet")
    with pytest.raises(ValueError, match="filters"):
        unet(filters=0)
    with pytest.raises(ValueError, match="input_shape"):
        _factory("hpdesc.denoisers", "unet16")(input_shape=(20, 20, 1))
    with pytest.raises(ValueError, match="depth"):
        _factory("hpdesc.denoisers", "dncnn")(depth=1)


def test_dncnn_untrained_is_identity_with_zero_final_init():
    # final_init="zeros" (the default): the untrained DnCNN returns its input exactly
    x = np.random.default_rng(2).random((2, 16, 16, 1), dtype=np.float32)
    model = _factory("hpdesc.denoisers", "dncnn")(input_shape=(16, 16, 1), depth=4, filters=8)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model(x)), x)
    rand = _factory("hpdesc.denoisers", "dncnn")(input_shape=(16, 16, 1), depth=4, filters=8,
                                                 final_init="orthogonal")
    assert np.abs(keras.ops.convert_to_numpy(rand(x)) - x).max() > 1e-3
    with pytest.raises(ValueError, match="final_init"):
        _factory("hpdesc.denoisers", "dncnn")(final_init="ones")
