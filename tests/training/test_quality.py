"""The README's quality claims on the embedded dataset (slow: run with --runslow).

1. The quick start (`hpdesc train --denoiser dncnn --descriptor hardnet`, default settings) ends in
   under 5 minutes on 2 CPU cores, beats the raw and sift baselines on all three tasks of the
   held-out test sequences, and its denoised PSNR beats the noisy PSNR.
2. At the longer budget documented in docs/training.md, dncnn + hardnet beats identity + hardnet.
"""

from __future__ import annotations

import time

import pytest

import hpdesc

TASKS = ("verification", "matching", "retrieval")
LONGER = ["training.denoiser_epochs=20", "training.descriptor_epochs=20"]


@pytest.mark.slow
def test_quick_start_beats_baselines(tmp_path):
    t0 = time.perf_counter()
    res = hpdesc.train(denoiser="dncnn", descriptor="hardnet", out=tmp_path / "run")
    minutes = (time.perf_counter() - t0) / 60
    assert res.finished
    b = res.benchmark
    ours = b["results"]["dncnn+hardnet"]["headline"]
    for base in ("raw", "sift"):
        for task in TASKS:
            assert ours[task] > b["results"][base]["headline"][task], (base, task, ours, b["results"][base])
    assert b["psnr"]["denoised"] > b["psnr"]["noisy"]
    assert minutes < 5.0, f"quick start took {minutes:.1f} min"


@pytest.mark.slow
def test_denoiser_earns_its_place(tmp_path):
    with_den = hpdesc.train(denoiser="dncnn", descriptor="hardnet", sets=LONGER, out=tmp_path / "dncnn")
    without = hpdesc.train(denoiser="identity", descriptor="hardnet", sets=LONGER, out=tmp_path / "identity")
    a = with_den.benchmark["results"]["dncnn+hardnet"]
    b = without.benchmark["results"]["identity+hardnet"]
    assert a["mean"] > b["mean"], (a["headline"], b["headline"])
