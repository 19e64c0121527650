"""The patch pipeline (noisy -> denoiser -> uint8 -> descriptor) and where inference sits in the layers."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import hpdesc

INFERENCE = Path(hpdesc.__file__).parent / "inference"


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, lazy imports inside functions included."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_inference_does_not_import_training_or_above():
    files = sorted(INFERENCE.glob("*.py"))
    assert files, f"no inference package at {INFERENCE}"
    above = ("hpdesc.training", "hpdesc.api", "hpdesc.cli", "hpdesc.experiments", "hpdesc.plugins")
    bad = {f"{f.name}: {m}" for f in files for m in _imports(f) if m.startswith(above)}
    assert not bad, sorted(bad)


def test_denoised_patches_are_quantised_before_description():
    """``describe`` of noisy patches equals describing the uint8 output of ``denoise``."""
    from hpdesc import registry
    from hpdesc.inference.pipeline import Pipeline

    den = registry.build("denoiser", "dncnn", input_shape=(32, 32, 1), depth=3, filters=4)
    desc = registry.build("descriptor", "hardnet", input_shape=(32, 32, 1), filters=4, dim=8)
    pipe = Pipeline(den, desc, batch_size=5)  # 2 x 16 = 32 patches: batches of 5, the last one short
    noisy = np.random.default_rng(0).integers(0, 256, (2, 16, 32, 32), dtype=np.uint8)
    den_out = pipe.denoise(noisy)
    assert den_out.dtype == np.uint8 and den_out.shape == noisy.shape
    got = pipe.describe(noisy)
    assert got.shape == (2, 16, 8) and pipe.dim == 8
    np.testing.assert_allclose(got, pipe.describe(den_out, denoise=False), rtol=1e-5, atol=1e-6)


def test_identity_denoiser_is_skipped():
    from hpdesc import registry
    from hpdesc.inference.pipeline import Pipeline, is_identity

    ident = registry.build("denoiser", "identity", input_shape=(32, 32, 1))
    assert is_identity(ident) and is_identity(None)
    pipe = Pipeline(ident, None)
    x = np.arange(16 * 32 * 32, dtype=np.uint8).reshape(16, 32, 32)
    assert pipe.denoiser is None and pipe.denoise(x) is x
    with pytest.raises(ValueError, match="no descriptor"):
        pipe.dim


def test_one_psnr_is_the_denoising_tables_mean_row():
    """The one-number PSNR pools squared errors over the e, h, t images; ``ref`` (image 0) is left out."""
    from hpdesc.benchmark.denoising import DenoisingMeter, psnr_of

    clean = np.full((2, 16, 2, 2), 100, np.uint8)
    noisy, den = clean.copy(), clean.copy()
    noisy[0, 1:] += 10  # e/h/t images of row 0 off by 10
    noisy[:, 0] = 0  # ref: far off, but not counted
    den[1, 1:] += 1
    m = DenoisingMeter(ssim=False)
    assert m.psnr() == {}
    m.add(clean[:1], noisy[:1], den[:1], sequence="i_a")
    m.add(clean[1:], noisy[1:], den[1:], sequence="v_b")
    # noisy: MSE (15 * 4 * 100 + 0) / (2 * 15 * 4) = 50; denoised: MSE 60 / 120 = 0.5
    assert m.psnr() == pytest.approx({"noisy": 10 * np.log10(255 ** 2 / 50), "denoised": 10 * np.log10(255 ** 2 / 0.5)})
    assert m.psnr() == psnr_of(m.result())
    assert m.psnr()["noisy"] == m.result()["mean"]["psnr_noisy"]
    exact = DenoisingMeter(ssim=False)
    exact.add(clean, clean, clean)
    assert exact.psnr() == {"noisy": float("inf"), "denoised": float("inf")}


def test_jitted_predict_is_jax_only(monkeypatch):
    import keras

    from hpdesc.inference.predict import FAST_PATH_ENV, predict_fn

    if keras.backend.backend() == "jax":
        pytest.skip("this interpreter runs the JAX backend (tests/training/test_fast.py covers it)")
    assert predict_fn(object()) is None
    monkeypatch.setenv(FAST_PATH_ENV, "off")
    assert predict_fn(object()) is None
