"""Classical denoisers (nlmeans, gaussian, median): registered, numpy-only, saved with a run, bad parameters refused."""

from __future__ import annotations

import numpy as np
import pytest

from hpdesc import registry
from hpdesc.errors import HpdescError

CLASSICAL = ("nlmeans", "gaussian", "median")


def _noisy(seed=0, n=4, sigma=15.0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32]
    clean = (128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0))[None].repeat(n, 0)
    noisy = np.clip(np.rint(clean + rng.normal(0, sigma, clean.shape)), 0, 255)
    return (clean / 255.0).astype(np.float32)[..., None], (noisy / 255.0).astype(np.float32)[..., None]


@pytest.mark.parametrize("name", CLASSICAL)
def test_registered_weightless_and_denoise(name):
    from hpdesc.models import is_trainable, numpy_compute

    model = registry.build("denoiser", name, input_shape=(32, 32, 1))
    assert not is_trainable(model) and numpy_compute(model) is not None
    clean, noisy = _noisy()
    out = numpy_compute(model)(noisy)
    assert out.shape == noisy.shape and out.dtype == np.float32
    assert np.mean((out - clean) ** 2) < 0.5 * np.mean((noisy - clean) ** 2)  # halves the MSE at least
    assert np.allclose(out * 255, np.rint(out * 255), atol=1e-3)  # uint8 steps, as the pipeline stores them


@pytest.mark.parametrize("name", CLASSICAL)
def test_saved_and_reloaded_with_its_parameters(name, tmp_path):
    import keras

    params = {"nlmeans": {"h": 9.0}, "gaussian": {"sigma": 1.5}, "median": {"kernel": 5}}[name]
    model = registry.build("denoiser", name, input_shape=(32, 32, 1), **params)
    model.save(tmp_path / "m.keras")
    back = keras.saving.load_model(tmp_path / "m.keras")
    assert type(back) is type(model) and back.params() == model.params()
    _, noisy = _noisy(1)
    assert np.array_equal(back.compute(noisy), model.compute(noisy))


def test_nlmeans_strength_follows_the_noise():
    from hpdesc.models.denoisers.classical import estimate_sigma, nlmeans

    rng = np.random.default_rng(0)
    flat = np.full((64, 64), 120.0)
    for sigma in (5.0, 10.0, 20.0):
        est = estimate_sigma(np.clip(flat + rng.normal(0, sigma, flat.shape), 0, 255))
        assert est == pytest.approx(sigma, rel=0.1)
    model = nlmeans()
    _, lo = _noisy(2, sigma=5.0)
    _, hi = _noisy(2, sigma=20.0)
    s_lo = model.strength(np.rint(lo[0, ..., 0] * 255).astype(np.uint8))
    s_hi = model.strength(np.rint(hi[0, ..., 0] * 255).astype(np.uint8))
    assert s_hi > 2 * s_lo  # a noisier patch (a harder level) is filtered harder
    assert nlmeans(h=7.0).strength(np.zeros((32, 32), np.uint8)) == 7.0  # --set denoiser.h overrides


@pytest.mark.parametrize("name, params, match", [
    ("gaussian", {"sigma": -1.0}, "sigma.*>= 0"),
    ("gaussian", {"sigma": 0}, "sigma.*> 0"),
    ("median", {"kernel": 4}, "kernel.*odd"),
    ("median", {"kernel": 1}, "kernel.*>= 3"),
    ("nlmeans", {"h": -2.0}, "'h'.*>= 0"),
    ("nlmeans", {"h": 5.0, "h_factor": 2.0}, "exclude each other"),
    ("nlmeans", {"search_window": 20}, "search_window.*odd"),
    ("nlmeans", {"strength": 3}, "strength"),
])
def test_bad_parameters_are_one_clear_error(name, params, match):
    from hpdesc.validate import build_checked

    with pytest.raises(HpdescError, match=match) as info:
        build_checked("denoiser", name, params)
    assert name in info.value.message and "\n" not in info.value.message
