"""hpdesc-ffdnet: the FFDNet denoiser, SSIM / MS-SSIM losses, and their entry points."""

from __future__ import annotations

import importlib.metadata
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("hpdesc_ffdnet", reason="the hpdesc-ffdnet plugin is not installed (pip install ./plugins/hpdesc-ffdnet)")

from hpdesc_ffdnet.ffdnet import (  # noqa: E402
    NoiseLevelMap,
    PixelShuffle,
    PixelUnshuffle,
    estimate_noise_sigma,
    ffdnet,
)
from hpdesc_ffdnet.losses import ms_ssim, ssim  # noqa: E402

SHAPE = (32, 32, 1)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _smooth(seed=0, batch=2, shape=SHAPE):
    """Patches with structure (random texture blurred by 3x3 box filters), in [0, 1]."""
    rng = np.random.default_rng(seed)
    x = rng.random((batch, *shape)).astype(np.float32)
    for _ in range(2):
        p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        x = sum(p[:, i:i + shape[0], j:j + shape[1]] for i in range(3) for j in range(3)) / 9.0
    return ((x - x.min()) / (x.max() - x.min())).astype(np.float32)


def _noisy(x, sigma, seed=1):
    rng = np.random.default_rng(seed)
    return np.clip(x + rng.normal(0.0, sigma, x.shape), 0.0, 1.0).astype(np.float32)


def _grad(fn, x):
    """Gradient of scalar ``fn(x)`` w.r.t. ``x`` on the active backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        var = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = fn(var)
        return tape.gradient(value, var).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(x))
    if backend == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        fn(t).backward()
        return t.grad.numpy()
    pytest.skip(f"no gradient helper for backend {backend}")


def _sign_descent(fn, y, steps, step):
    """``steps`` sign-gradient steps of size ``step`` on scalar ``fn(y)`` (compiled on TensorFlow)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        var = tf.Variable(y)

        @tf.function
        def one():
            with tf.GradientTape() as tape:
                value = fn(var)
            var.assign_sub(step * tf.sign(tape.gradient(value, var)))

        for _ in range(steps):
            one()
        return var.numpy()
    for _ in range(steps):
        y = y - step * np.sign(_grad(fn, y))
    return y


# -- FFDNet -----------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"sigma": 0.05, "residual": True, "bn": False},
                                    {"activation": "leaky_relu", "alpha": 0.1, "init": "he_normal"}])
def test_build_forward_save_load(params, tmp_path):
    model = ffdnet(input_shape=SHAPE, depth=4, filters=8, **params)
    assert isinstance(model, keras.Model) and model.name == "ffdnet"
    x = _smooth()
    out = _np(model(x, training=False))
    assert out.shape == x.shape and out.dtype == np.float32 and np.all(np.isfinite(out))
    # the body runs at half resolution on 4 sub-images + 1 noise-level channel
    assert model.get_layer("conv1").input.shape[1:] == (16, 16, 5)
    assert model.get_layer("conv4").output.shape[1:] == (16, 16, 4)
    path = tmp_path / "ffdnet.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_np(reloaded(x, training=False)), out, rtol=1e-5, atol=1e-6)
    assert reloaded.get_layer("noise_map").sigma == params.get("sigma")


def test_depth_15_is_the_papers_grey_model():
    model = ffdnet(depth=15, residual=False)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 15 and convs[0].filters == 64 and convs[-1].filters == 4
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 13
    assert model.get_layer("noise_map").sigma is None  # "auto"
    assert "clean_subimages" not in {layer.name for layer in model.layers}


def test_defaults_are_a_shallow_residual_ffdnet():
    model = ffdnet()
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 4 and convs[0].filters == 64 and convs[-1].filters == 4
    assert model.get_layer("clean_subimages") is not None  # residual: identity at init
    assert model.get_layer("noise_map").sigma is None  # "auto"


def test_residual_with_zero_body_is_identity():
    model = ffdnet(depth=3, filters=4, residual=True, final_init="orthogonal")
    last = model.get_layer("conv3")
    last.set_weights([np.zeros_like(w) for w in last.get_weights()])
    x = _smooth()
    np.testing.assert_allclose(_np(model(x)), x, atol=1e-6)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_default_ffdnet_is_the_identity_at_init(policy):
    """The untrained default model returns its input, also under mixed precision (float32 skip)."""
    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = ffdnet(depth=4, filters=8)
    finally:
        keras.config.set_dtype_policy(old)
    x = _noisy(_smooth(batch=3), 0.05)
    for training in (False, True):
        out = _np(model(x, training=training))
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, x, atol=1e-6)


def test_final_init_auto_follows_residual():
    assert not np.any(ffdnet(depth=3, filters=4).get_layer("conv3").get_weights()[0])
    # the paper's form: the body predicts the clean sub-images, so its last conv is random
    assert np.any(ffdnet(depth=3, filters=4, residual=False).get_layer("conv3").get_weights()[0])
    assert np.any(ffdnet(depth=3, filters=4, final_init="he_normal").get_layer("conv3").get_weights()[0])


def test_pixel_unshuffle_round_trip_and_layout():
    x = np.random.default_rng(0).random((2, 8, 6, 3)).astype(np.float32)
    sub = _np(PixelUnshuffle(2)(x))
    assert sub.shape == (2, 4, 3, 12)
    # channel (dy * 2 + dx) * C + c holds pixel (2i + dy, 2j + dx) of channel c
    for dy in range(2):
        for dx in range(2):
            for c in range(3):
                np.testing.assert_array_equal(sub[..., (dy * 2 + dx) * 3 + c], x[:, dy::2, dx::2, c])
    np.testing.assert_array_equal(_np(PixelShuffle(2)(sub)), x)
    y = np.random.default_rng(1).random((2, 4, 4, 8)).astype(np.float32)
    np.testing.assert_array_equal(_np(PixelUnshuffle(2)(PixelShuffle(2)(y))), y)


def test_noise_level_map_fixed_and_estimated():
    clean = _smooth(batch=3)
    noisy = np.stack([_noisy(clean[i:i + 1], s, seed=i)[0] for i, s in enumerate((0.0, 0.04, 0.1))])
    est = _np(estimate_noise_sigma(noisy))
    assert est.shape == (3,)
    assert est[0] < 0.02 and abs(est[1] - 0.04) < 0.015 and abs(est[2] - 0.1) < 0.03
    assert est[0] < est[1] < est[2]
    auto = _np(NoiseLevelMap(None)(noisy))
    assert auto.shape == (3, 16, 16, 1)
    np.testing.assert_allclose(auto[:, 3, 5, 0], est, atol=1e-6)
    fixed = _np(NoiseLevelMap(0.07)(noisy))
    np.testing.assert_allclose(fixed, 0.07, atol=1e-7)


@pytest.mark.parametrize("bad,match", [({"sigma": 1.5}, "sigma"), ({"sigma": "loud"}, "sigma"),
                                       ({"depth": 1}, "depth"), ({"input_shape": (31, 31, 1)}, "input_shape"),
                                       ({"activation": "swish"}, "activation"), ({"residual": "yes"}, "residual"),
                                       ({"final_init": "ones"}, "final_init")])
def test_bad_parameters_are_value_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        ffdnet(**bad)


def test_unknown_parameter_is_type_error():
    with pytest.raises(TypeError):
        ffdnet(no_such_parameter=1)


# -- SSIM / MS-SSIM ---------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [ssim, ms_ssim], ids=["ssim", "ms_ssim"])
def test_loss_zero_on_identical_and_grows_with_noise(factory):
    loss = factory()
    x = _smooth(batch=4)
    value = loss(x, x)
    assert tuple(value.shape) == ()
    assert abs(float(_np(value))) < 1e-5
    values = [float(_np(loss(x, _noisy(x, s)))) for s in (0.02, 0.05, 0.1, 0.2)]
    assert 0.0 < values[0] < values[1] < values[2] < values[3] <= 2.0


@pytest.mark.parametrize("factory", [ssim, ms_ssim], ids=["ssim", "ms_ssim"])
def test_loss_gradient_is_finite(factory):
    loss = factory()
    clean = _smooth(batch=2)
    for denoised in (_noisy(clean, 0.1), clean.copy(), 1.0 - clean, np.zeros_like(clean)):
        grad = _grad(lambda d: loss(clean, d), denoised)
        assert grad.shape == clean.shape and np.all(np.isfinite(grad))


def _psnr(clean, denoised):
    return float(10.0 * np.log10(1.0 / np.mean((np.clip(denoised, 0.0, 1.0) - clean) ** 2)))


@pytest.mark.parametrize("factory", [ssim, ms_ssim], ids=["ssim", "ms_ssim"])
def test_inverted_patch_is_worse_than_the_noisy_one(factory):
    """Negated (-x, what a diverged FFDNet produced) or inverted (1 - x) patches never win."""
    loss = factory()
    x = _smooth(batch=4)
    noisy = float(_np(loss(x, _noisy(x, 0.1))))
    for inverted in (-x, 1.0 - x, -_noisy(x, 0.1)):
        assert float(_np(loss(x, inverted))) > noisy


@pytest.mark.parametrize("factory", [ssim, ms_ssim], ids=["ssim", "ms_ssim"])
@pytest.mark.parametrize("start", ["negated", "inverted", "above"])
def test_gradient_pulls_an_inverted_output_back(factory, start):
    """Descending the loss from a wrong output ends near the clean patch, not stuck or inverted.

    Sign-gradient steps (0.02 per pixel) so the test is about the gradient's direction. The end
    point is positively correlated with the clean patch and scores better than the noisy input;
    its PSNR is not compared, as MS-SSIM hardly sees a brightness offset (x + 0.15 scores 0.016,
    the noisy input 0.084).
    """
    loss = factory()
    x = _smooth(batch=4)
    y = {"negated": -x, "inverted": 1.0 - x, "above": 1.5 + x}[start].astype(np.float32)
    psnr_start = _psnr(x, y)
    g = _grad(lambda d: loss(x, d), y)
    assert np.all(np.isfinite(g)) and np.any(g != 0)
    y = _sign_descent(lambda d: loss(x, d), y, steps=150, step=0.02)
    assert np.corrcoef(x.ravel(), y.ravel())[0, 1] > 0.9
    assert float(_np(loss(x, y))) < float(_np(loss(x, _noisy(x, 0.1))))
    assert _psnr(x, y) > psnr_start + 5.0


@pytest.mark.parametrize("factory", [ssim, ms_ssim], ids=["ssim", "ms_ssim"])
def test_loss_is_plain_similarity_in_range_and_penalises_outside(factory):
    """In [0, max_val] nothing changes; outside, the loss grows with the distance to the range."""
    loss = factory()
    x = _smooth(batch=2)
    y = _noisy(x, 0.05)
    base = float(_np(loss(x, y)))
    assert base < 1.0
    # a constant shift below 0 of one pixel raises the loss by |shift| / pixels
    z = y.copy()
    z[0, 0, 0, 0] = -0.5
    z_in = z.copy()
    z_in[0, 0, 0, 0] = 0.0
    assert float(_np(loss(x, z))) == pytest.approx(float(_np(loss(x, z_in))) + 0.5 / x.size, abs=1e-6)


def test_ssim_matches_reference_formula():
    """One window position by hand: a 7x7 patch with window 7 has exactly one."""
    rng = np.random.default_rng(3)
    x = rng.random((1, 7, 7, 1)).astype(np.float64)
    y = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    k = np.arange(7) - 3.0
    g = np.exp(-k ** 2 / (2 * 1.5 ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mx, my = (w * x[0, ..., 0]).sum(), (w * y[0, ..., 0]).sum()
    vx = (w * x[0, ..., 0] ** 2).sum() - mx ** 2
    vy = (w * y[0, ..., 0] ** 2).sum() - my ** 2
    cxy = (w * x[0, ..., 0] * y[0, ..., 0]).sum() - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    want = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    got = 1.0 - float(_np(ssim()(x.astype(np.float32), y.astype(np.float32))))
    assert got == pytest.approx(want, abs=1e-5)


def test_ms_ssim_single_scale_is_ssim():
    x = _smooth(batch=2)
    y = _noisy(x, 0.08)
    one = float(_np(ms_ssim(scales=1, window=7, sigma=1.5)(x, y)))
    assert one == pytest.approx(float(_np(ssim()(x, y))), abs=1e-6)


def test_loss_parameter_errors():
    with pytest.raises(ValueError, match="window"):
        ssim(window=6)
    with pytest.raises(ValueError, match="scales"):
        ms_ssim(scales=6)
    with pytest.raises(ValueError, match="weights"):
        ms_ssim(scales=3, weights=[0.5, 0.5])
    with pytest.raises(TypeError):
        ssim(no_such_parameter=1)
    # 32 -> 16 -> 8 -> 4: a 4th scale is smaller than the 5x5 window
    with pytest.raises(ValueError, match="scales"):
        ms_ssim(scales=4)(_smooth(), _smooth())


# -- entry points (needs `pip install plugins/hpdesc-ffdnet`) ---------------------------------


def _installed() -> bool:
    try:
        importlib.metadata.distribution("hpdesc-ffdnet")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _installed(), reason="hpdesc-ffdnet is not installed")
def test_entry_points_discoverable_through_hpdesc_registry():
    from hpdesc import registry

    registry.refresh()
    entry = registry.get("denoiser", "ffdnet")
    assert (entry.distribution, entry.value) == ("hpdesc-ffdnet", "hpdesc_ffdnet.ffdnet:ffdnet")
    assert entry.summary.startswith("FFDNet denoiser")
    model = registry.build("denoiser", "ffdnet", input_shape=SHAPE, depth=3, filters=4, sigma=0.05)
    assert isinstance(model, keras.Model)
    for name in ("ssim", "ms_ssim"):
        assert registry.get("denoiser_loss", name).distribution == "hpdesc-ffdnet"
        loss = registry.build("denoiser_loss", name)
        assert float(_np(loss(_smooth(), _smooth()))) == pytest.approx(0.0, abs=1e-5)
    assert "hpdesc-ffdnet:ffdnet" in {e.qualified for e in registry.entries("denoiser")}
