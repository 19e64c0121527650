"""`hpdesc compare` shows the denoising table's PSNR per level, and nlmeans as a PSNR baseline row."""

from __future__ import annotations

import json

from hpdesc.experiments.compare import markdown_table
from hpdesc.experiments.comparison import collect
from tests.experiments.test_compare import SCORES, fake_run


def _with_denoising(path, own: str, psnr: float):
    bench = json.loads((path / "benchmark.json").read_text())
    rows = lambda d: {lv: {"psnr_noisy": 25.0, "psnr_denoised": d + i, "ssim_noisy": 0.5, "ssim_denoised": 0.8,
                           "patches": 10} for i, lv in enumerate(("e", "h", "t", "mean"))}
    bench["denoising"] = {own: rows(psnr), "nlmeans": rows(28.0)}
    bench["results"]["nlmeans+hardnet"] = {"headline": {"verification": 0.5, "matching": 0.2, "retrieval": 0.6}}
    (path / "benchmark.json").write_text(json.dumps(bench))


def test_compare_psnr_per_level_and_nlmeans_row(tmp_path):
    runs = []
    for k, (name, scores) in enumerate(SCORES.items()):
        den = name.split("-")[1]
        runs.append(fake_run(tmp_path / name, den, scores))
        _with_denoising(runs[-1], den, 30.0 + k)
    comp = collect(runs)
    assert [c for c in comp.metric_columns() if c.startswith("psnr_")] == ["psnr_e", "psnr_h", "psnr_t"]
    rows = {r.name: r for r in comp.rows}
    assert rows["nlmeans (baseline)"].metrics == {"psnr_e": 28.0, "psnr_h": 29.0, "psnr_t": 30.0}
    assert not any("nlmeans+hardnet" in n for n in rows)  # its mAP used one run's descriptor
    md = markdown_table(comp)
    assert "PSNR e dB" in md and "| nlmeans (baseline) |" in md
