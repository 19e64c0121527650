"""The denoising table: PSNR / SSIM per level agree with skimage.metrics; writers; `hpdesc benchmark denoise`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from hpdesc.benchmark.denoising import DenoisingMeter, DenoisingResult, plot_bars, to_markdown, write_json
from hpdesc.data.images import IMAGES

sys.path.insert(0, str(Path(__file__).parent.parent / "training"))
from tiny import make_tiny_dataset  # noqa: E402


def _arrays(seed, n=3):
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 256, (n, 16, 32, 32), dtype=np.uint8)
    noisy = np.clip(clean + rng.normal(0, 20, clean.shape), 0, 255).astype(np.uint8)
    den = np.clip(clean + rng.normal(0, 8, clean.shape), 0, 255).astype(np.uint8)
    return clean, noisy, den


def test_psnr_and_ssim_agree_with_skimage():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    meter = DenoisingMeter()
    parts = {"i_a": _arrays(0), "v_b": _arrays(1, n=2)}
    for seq, (c, n, d) in parts.items():
        meter.add(c, n, d, sequence=seq)
    rows = meter.result()
    assert set(rows) == {"e", "h", "t", "i_", "v_", "mean"}

    def stack(row, which):
        cols = [j for j, name in enumerate(IMAGES) if name != "ref" and (row in ("mean", "i_", "v_") or name[0] == row)]
        seqs = [s for s in parts if row not in ("i_", "v_") or s.startswith(row)]
        return np.concatenate([parts[s][which][:, cols].reshape(-1, 32, 32) for s in seqs])

    for row in rows:
        clean = stack(row, 0)
        for kind, which in (("noisy", 1), ("denoised", 2)):
            other = stack(row, which)
            assert rows[row][f"psnr_{kind}"] == pytest.approx(
                peak_signal_noise_ratio(clean, other, data_range=255), abs=1e-6)
            ssim = np.mean([structural_similarity(a, b, data_range=255) for a, b in zip(clean, other)])
            assert rows[row][f"ssim_{kind}"] == pytest.approx(ssim, abs=1e-6)
        assert rows[row]["patches"] == len(clean)
    assert rows["e"]["psnr_denoised"] > rows["e"]["psnr_noisy"]


def test_writers(tmp_path):
    meter = DenoisingMeter()
    meter.add(*_arrays(2), sequence="i_x")
    a = DenoisingResult("median", "d.h5", "default", meter.result())
    b = DenoisingResult("nlmeans", "d.h5", "default", meter.result())
    md = to_markdown([a, b])
    assert "| easy (e) | noisy input |" in md and "| mean | nlmeans |" in md and "viewpoint" not in md
    write_json([a, b], tmp_path / "t.json")
    back = [DenoisingResult.from_dict(d) for d in json.loads((tmp_path / "t.json").read_text())]
    assert back[1].rows["h"] == pytest.approx(b.rows["h"])
    plot_bars([a, b], tmp_path / "t.png")
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny.h5", n_seq=4, n_patches=3)


def test_cli_compare_table(tiny_data, tmp_path):
    from hpdesc.cli.main import app

    out = tmp_path / "t.json"
    res = CliRunner().invoke(app, ["benchmark", "denoise", "--data", str(tiny_data), "--compare", "identity",
                                   "median", "nlmeans", "--set", "nlmeans.h=20", "--json", str(out),
                                   "--markdown", str(tmp_path / "t.md"), "--plot", str(tmp_path / "t.png")])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert [d["denoiser"] for d in data] == ["identity", "median", "nlmeans"]
    ident, med, nlm = (d["rows"]["mean"] for d in data)
    assert ident["psnr_denoised"] == pytest.approx(ident["psnr_noisy"])
    assert med["psnr_denoised"] > med["psnr_noisy"] and nlm["psnr_denoised"] > nlm["psnr_noisy"]
    assert data[0]["split"] == "default" and "tough (t)" in res.output


@pytest.mark.parametrize("args, match", [
    (["--denoiser", "median", "--set", "denoiser.kernel=4"], "kernel.*odd"),
    (["--denoiser", "gaussian", "--set", "denoiser.sigma=-1"], "sigma"),
    (["--denoiser", "nosuch"], "unknown denoiser 'nosuch'"),
    (["--compare", "median", "gaussian", "--set", "denoiser.sigma=2"], "NAME.PARAM=VALUE"),
])
def test_cli_bad_input_one_line_nothing_written(tiny_data, tmp_path, args, match):
    import re

    from hpdesc.cli.main import app

    out = tmp_path / "t.json"
    res = CliRunner().invoke(app, ["benchmark", "denoise", "--data", str(tiny_data), *args, "--json", str(out)])
    assert res.exit_code == 2, res.output
    assert re.search(match, res.output) and "Traceback" not in res.output
    assert res.output.count("error:") == 1 and not out.exists()


def test_denoise_by_name_takes_parameters(tiny_data, tmp_path):
    import hpdesc
    from hpdesc.errors import UsageError

    strong = hpdesc.denoise(denoiser="nlmeans", sets=["denoiser.h=60"], data=tiny_data, split="default",
                            out=tmp_path / "strong.h5")
    weak = hpdesc.denoise(denoiser="nlmeans", sets=["denoiser.h=1"], data=tiny_data, split="default",
                          out=tmp_path / "weak.h5")
    assert strong["psnr"]["denoised"] != weak["psnr"]["denoised"]  # the setting took effect
    assert abs(weak["psnr"]["denoised"] - weak["psnr"]["noisy"]) < 0.5  # h = 1 barely filters
    with pytest.raises(UsageError, match="identity.*takes no parameters"):
        hpdesc.denoise(denoiser="identity", sets=["denoiser.h=3"], data=tiny_data, out=tmp_path / "i.h5")
    with pytest.raises(UsageError, match="denoiser parameters only"):
        hpdesc.denoise(denoiser="median", sets=["descriptor.dim=3"], data=tiny_data, out=tmp_path / "i.h5")
    assert not (tmp_path / "i.h5").exists()
