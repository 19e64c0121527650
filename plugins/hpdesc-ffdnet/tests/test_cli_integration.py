"""End to end through hpdesc's CLI: train with ffdnet + ssim, then describe from the saved run."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from hpdesc import registry
from hpdesc.cli.main import app
from hpdesc.data.descfile import open_descriptors
from hpdesc.data.store import DatasetWriter

if "ffdnet" not in registry.names("denoiser"):  # skip, not fail, where the plugin is not installed
    pytest.skip("the hpdesc-ffdnet plugin is not installed (pip install ./plugins/hpdesc-ffdnet)", allow_module_level=True)

TINY = [
    "denoiser.depth=3", "denoiser.filters=8", "descriptor.filters=4", "descriptor.dim=16",
    "training.denoiser_samples_per_epoch=32", "training.denoiser_batch_size=16",
    "training.descriptor_triplets_per_epoch=32", "training.descriptor_batch_size=16",
    "training.denoiser_val_samples=16", "training.descriptor_val_triplets=16", "training.denoise_pool=128",
    "benchmark.baselines=[]", "data.descriptor_val_ratio='3:1'", "training.precision=float32",
]


@pytest.fixture()
def tiny_data(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"{'iv'[i % 2]}_t{i}" for i in range(6)]
    path = tmp_path / "tiny.h5"
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    with DatasetWriter(path, names, [8] * 6, {"source": "ffdnet test"}) as w:
        for name in names:
            f = rng.uniform(1, 4, size=(8, 1, 1, 1, 2))
            base = np.sin(6.28 * (f[..., 0] * xx + f[..., 1] * yy))  # (8, 1, 32, 32)
            clean = np.clip(128 + 60 * np.repeat(base, 16, axis=1), 0, 255).astype(np.uint8)
            noisy = np.clip(clean + rng.normal(0, 15, clean.shape), 0, 255).astype(np.uint8)
            w.put(name, clean, noisy)
        w.set_split("default", train=names[:4], test=names[4:])
    return path


def test_train_ffdnet_ssim_then_describe(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("HPDESC_RUNS", str(tmp_path / "runs"))  # a finished run updates <runs root>/latest
    runner = CliRunner()
    run = tmp_path / "run"
    args = ["train", "--denoiser", "ffdnet", "--denoiser-loss", "ssim", "--descriptor", "hardnet",
            "--data", str(tiny_data), "--epochs", "1", "--out", str(run)]
    for s in TINY:
        args += ["--set", s]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    cfg = (run / "config.toml").read_text()
    assert "hpdesc-ffdnet" in cfg and "hpdesc_ffdnet" in cfg  # provenance: distribution + entry point
    out = tmp_path / "desc.h5"
    res = runner.invoke(app, ["describe", "--run", str(run), "--data", str(tiny_data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    with open_descriptors(out) as d:
        x = d.get(d.sequences[0])
        assert x.shape == (8, 16, 16) and np.isfinite(x).all()
