"""The README's quality claims on the embedded dataset (slow: run with --runslow).

1. The quick start (`hpdesc train --denoiser dncnn --descriptor hardnet`, default settings) ends in
   under 5 minutes on 2 CPU cores, beats the raw and sift baselines on all three tasks of the
   held-out test sequences, and its denoised PSNR beats the noisy PSNR.
2. At the longer budget documented in docs/training.md ("Measured"), dncnn + hardnet beats
   identity + hardnet (the same descriptor trained and benchmarked without a denoiser) on all
   three tasks.
3. The example plugin's headline denoiser recipe (ffdnet + ssim, default budget and precision)
   returns held-out test patches better than the noisy input (needs hpdesc-ffdnet installed).

"Under 5 minutes on 2 CPU cores" is checked on the process's CPU time (user + sys, all threads)
divided by 2, the wall time of an otherwise idle 2-core machine: the wall clock of a shared
machine depends on other people's jobs. ``HPDESC_QUALITY_WALL=1`` also asserts the wall clock.
``HPDESC_QUALITY_LOG=FILE`` appends the measured figures (JSON lines) to FILE.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import resource
import time

import pytest

import hpdesc

TASKS = ("verification", "matching", "retrieval")
# The longer budget of docs/training.md: both stages 20 epochs, the whole training split denoised.
LONGER = ["training.denoiser_epochs=20", "training.descriptor_epochs=20", "training.denoise_pool=0"]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _log(name: str, res, wall: float, cpu: float) -> None:
    path = os.environ.get("HPDESC_QUALITY_LOG")
    row = {"test": name, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "ideal_2core_s": round(cpu / 2, 1),
           "timings": res.timings, "psnr": res.benchmark.get("psnr"),
           "headline": {k: v["headline"] for k, v in res.benchmark["results"].items()}}
    print(json.dumps(row))
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def _train(**kw):
    t0, c0 = time.perf_counter(), _cpu()
    res = hpdesc.train(**kw)
    return res, time.perf_counter() - t0, _cpu() - c0


@pytest.mark.slow
def test_quick_start_beats_baselines(tmp_path):
    res, wall, cpu = _train(denoiser="dncnn", descriptor="hardnet", out=tmp_path / "run")
    _log("quick_start", res, wall, cpu)
    assert res.finished
    b = res.benchmark
    ours = b["results"]["dncnn+hardnet"]["headline"]
    for base in ("raw", "sift"):
        for task in TASKS:
            assert ours[task] > b["results"][base]["headline"][task], (base, task, ours, b["results"][base])
    assert b["psnr"]["denoised"] > b["psnr"]["noisy"]
    assert cpu / 2 / 60 < 5.0, f"quick start needs {cpu / 2 / 60:.1f} min on 2 idle cores ({cpu:.0f} s CPU)"
    if os.environ.get("HPDESC_QUALITY_WALL"):
        assert wall / 60 < 5.0, f"quick start took {wall / 60:.1f} min (wall clock)"


@pytest.mark.slow
def test_denoiser_earns_its_place(tmp_path):
    with_den, wall_a, cpu_a = _train(denoiser="dncnn", descriptor="hardnet", sets=LONGER, out=tmp_path / "dncnn")
    _log("longer_dncnn", with_den, wall_a, cpu_a)
    without, wall_b, cpu_b = _train(denoiser="identity", descriptor="hardnet", sets=LONGER, out=tmp_path / "identity")
    _log("longer_identity", without, wall_b, cpu_b)
    a = with_den.benchmark["results"]["dncnn+hardnet"]
    b = without.benchmark["results"]["identity+hardnet"]
    for task in TASKS:
        assert a["headline"][task] > b["headline"][task], (task, a["headline"], b["headline"])
    assert a["mean"] > b["mean"], (a["headline"], b["headline"])


def _ffdnet_installed() -> bool:
    try:
        importlib.metadata.distribution("hpdesc-ffdnet")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _ffdnet_installed(), reason="hpdesc-ffdnet is not installed")
def test_ffdnet_ssim_denoises(tmp_path):
    """ffdnet + ssim, denoiser only, default budget and precision (mixed bfloat16): the held-out
    test patches come out at least 1 dB better than the noisy input.

    It used to learn negated patches that SSIM scored as good (25.3 dB noisy -> 7.2 dB, black once
    stored as uint8); a denoiser stuck at the identity reads about the noisy PSNR, hence the margin.
    """
    res, wall, cpu = _train(denoiser="ffdnet", denoiser_loss="ssim", descriptor="none", out=tmp_path / "run")
    _log("ffdnet_ssim", res, wall, cpu)
    assert res.finished
    assert res.config.training.precision == "mixed"
    psnr = res.benchmark["psnr"]
    assert psnr["denoised"] > psnr["noisy"] + 1.0, psnr
