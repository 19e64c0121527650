"""The bm3d plugin: discovered, contract-checked, denoises, reloads, refuses bad parameters (few patches: BM3D is slow)."""

from __future__ import annotations

import numpy as np
import pytest

from hpdesc import registry
from hpdesc.errors import HpdescError

# the plugin's tests skip, not fail, where it is not installed (its distribution, or the bm3d package)
pytest.importorskip("bm3d", reason="the bm3d package is not installed (pip install ./plugins/hpdesc-bm3d)")
if "bm3d" not in registry.names("denoiser"):
    pytest.skip("the hpdesc-bm3d plugin is not installed (pip install ./plugins/hpdesc-bm3d)", allow_module_level=True)


def _pair(seed=0, sigma=15.0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:32, 0:32]
    clean = 128 + 60 * np.sin(xx / 5.0) * np.cos(yy / 7.0)
    noisy = np.clip(np.rint(clean + rng.normal(0, sigma, clean.shape)), 0, 255)
    return (clean / 255.0).astype(np.float32)[None, ..., None], (noisy / 255.0).astype(np.float32)[None, ..., None]


def test_discovered_checked_and_denoises(tmp_path):
    import keras

    from hpdesc.models import is_trainable, numpy_compute

    entry = registry.get("denoiser", "bm3d")
    assert entry.distribution == "hpdesc-bm3d" and entry.value == "hpdesc_bm3d.denoiser:bm3d"
    # one BM3D call in this file (seconds each on a busy CPU); hpdesc's contract checks are the
    # same code as for nlmeans (tests/models/test_classical.py)
    model = registry.build("denoiser", "bm3d", input_shape=(32, 32, 1), sigma=15.0)
    assert isinstance(model, keras.Model) and not is_trainable(model)
    clean, noisy = _pair()
    out = numpy_compute(model)(noisy)
    assert out.shape == noisy.shape
    assert np.mean((out - clean) ** 2) < 0.5 * np.mean((noisy - clean) ** 2)
    model.save(tmp_path / "bm3d.keras")
    back = keras.saving.load_model(tmp_path / "bm3d.keras")
    assert type(back) is type(model) and back.params() == {"sigma": 15.0, "profile": "np"}


@pytest.mark.parametrize("params, match", [
    ({"sigma": -1.0}, "sigma.*>= 0"), ({"sigma": 0}, "sigma.*> 0"), ({"profile": "fast"}, "profile.*one of"),
])
def test_bad_parameters(params, match):
    with pytest.raises(HpdescError, match=match):
        registry.build("denoiser", "bm3d", input_shape=(32, 32, 1), **params)
