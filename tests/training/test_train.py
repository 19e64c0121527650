"""Training end to end on a tiny dataset: API, CLI, run directory, resume, watchdog, JAX."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from tiny import TINY, make_tiny_dataset, tiny_sets  # noqa: E402

import hpdesc  # noqa: E402
from hpdesc.errors import TrainingError  # noqa: E402

# TINY for runs without a denoiser / descriptor: a parameter for a component a run replaces or
# lacks is an error (hpdesc.config), not silently dropped
NO_DENOISER = tiny_sets(denoiser=False)
NO_DESCRIPTOR = tiny_sets(descriptor=False)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny.h5")


@pytest.fixture(scope="module")
def trained(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "run"
    return hpdesc.train(data=tiny_data, sets=TINY, epochs=2, out=out, seed=3)


def test_run_directory_contents(trained):
    run = Path(trained.run_dir)
    assert trained.finished
    for name in ("config.toml", "denoiser.keras", "descriptor.keras", "history_denoiser.csv",
                 "history_descriptor.csv", "curves_denoiser.png", "curves_descriptor.png", "benchmark.json",
                 "state.json", "descriptors_test.h5"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard" / "descriptor").iterdir())
    assert (run / "checkpoints" / "descriptor_last.npz").exists()
    rows = list(csv.DictReader((run / "history_descriptor.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(float(r["loss"]) > 0 and float(r["val_loss"]) > 0 for r in rows)
    bench = json.loads((run / "benchmark.json").read_text())
    assert set(bench["results"]) == {"dncnn+hardnet", "raw"}
    assert set(bench["results"]["raw"]["headline"]) == {"verification", "matching", "retrieval"}
    assert bench["psnr"]["noisy"] > 0 and "denoised" in bench["psnr"]
    assert not list(run.rglob(".*.tmp"))  # no half-written files left behind


def test_one_psnr_equals_the_tables_mean(trained, capsys):
    """The PSNR train prints is its denoising table's mean row (e, h, t images), on screen and on disk."""
    from hpdesc.benchmark.runbench import RunBenchmark
    from hpdesc.cli.train import print_benchmark

    b = trained.benchmark
    mean = b.denoising[0].rows["mean"]
    assert b.denoising[0].denoiser == "dncnn" and b.run == "dncnn+hardnet"
    assert b.psnr == {"noisy": mean["psnr_noisy"], "denoised": mean["psnr_denoised"]}
    on_disk = json.loads((Path(trained.run_dir) / "benchmark.json").read_text())
    assert on_disk["psnr"] == b.psnr and on_disk["denoising"]["dncnn"]["mean"] == mean
    assert RunBenchmark.from_dict(on_disk).to_dict() == on_disk
    assert b.result("raw").mean == pytest.approx(on_disk["results"]["raw"]["mean"])
    print_benchmark(b)
    out = capsys.readouterr().out
    assert f"denoised {mean['psnr_denoised']:.2f} dB" in out
    assert out.count(f"{mean['psnr_denoised']:.2f}") >= 2  # the table's mean row and the one-line PSNR


def test_saved_config_reproduces(trained, tiny_data):
    from hpdesc import config as C

    cfg = C.resolve(Path(trained.run_dir) / "config.toml")
    assert cfg.to_dict(provenance=False) == trained.config.to_dict(provenance=False)
    assert cfg.data.path == str(Path(tiny_data).resolve())
    assert cfg.denoiser.params == {"depth": 3, "filters": 8} and cfg.training.seed == 3
    prov = cfg.provenance["descriptor"]
    assert prov["value"] == "hpdesc.models.descriptors.hardnet:hardnet" and prov["distribution"] == "hpdesc"


def test_models_reload_with_plain_keras(trained):
    import keras

    run = Path(trained.run_dir)
    den = keras.saving.load_model(run / "denoiser.keras")
    desc = keras.saving.load_model(run / "descriptor.keras")
    x = np.random.default_rng(0).random((4, 32, 32, 1), dtype=np.float32)
    assert den.predict(x, verbose=0).shape == (4, 32, 32, 1)
    d = desc.predict(x, verbose=0)
    assert d.shape == (4, 16) and np.allclose(np.linalg.norm(d, axis=1), 1, atol=1e-3)
    lr = hpdesc.load_run(run)
    assert np.allclose(lr.descriptor.predict(x, verbose=0), d, atol=1e-5)


def test_resume_after_interruption(tiny_data, tmp_path):
    out = tmp_path / "run"
    first = hpdesc.train(data=tiny_data, sets=TINY, epochs=2, out=out, max_epochs_this_session=3)
    assert first.status == "interrupted"
    state = json.loads((out / "state.json").read_text())
    assert state.get("denoiser_done") and not state.get("descriptor_done")
    assert len(first.history["descriptor"]) == 1
    cfg_before = (out / "config.toml").read_text()
    done = hpdesc.train(resume=out)
    assert done.finished
    assert [r["epoch"] for r in done.history["descriptor"]] == [1, 2]
    assert (out / "config.toml").read_text() == cfg_before
    assert (out / "benchmark.json").exists()
    with pytest.raises(hpdesc.errors.UsageError if hasattr(hpdesc, "errors") else Exception):
        hpdesc.train(resume=out, epochs=3)


def test_nan_watchdog_stops(tiny_data, tmp_path):
    with pytest.raises(TrainingError, match="diverged"):
        hpdesc.train(data=tiny_data, sets=NO_DESCRIPTOR + ["denoiser_optimizer.learning_rate=1e30", "descriptor=none"],
                     epochs=2, out=tmp_path / "run")


def test_collapse_and_stuck_detection():
    from hpdesc.training.callbacks import Watchdog, mean_pairwise_distance

    same = np.tile(np.eye(1, 8), (16, 1))
    assert mean_pairwise_distance(same) == pytest.approx(0.0, abs=1e-6)
    wd = Watchdog("descriptor", "stop", collapse_distance=0.01, margin=1.0, stuck_epochs=2)
    with pytest.raises(TrainingError, match="collapsed"):
        wd.check_epoch(1, 0.5, spread=mean_pairwise_distance(same))
    wd = Watchdog("descriptor", "stop", margin=1.0, stuck_epochs=2)
    wd.check_epoch(1, 1.001, spread=1.0)
    with pytest.raises(TrainingError, match="stuck at the margin"):
        wd.check_epoch(2, 0.999, spread=1.0)
    seen = []
    wd = Watchdog("descriptor", "warn", margin=1.0, stuck_epochs=1, warn=seen.append)
    wd.check_epoch(1, 1.0, spread=0.0)
    assert len(seen) == 2 and wd.warnings


def test_collapse_detected_in_training(tiny_data, tmp_path):
    # an absurd collapse threshold makes any descriptor "collapsed": the run stops with one line
    with pytest.raises(TrainingError, match="collapsed at epoch 1"):
        hpdesc.train(data=tiny_data, sets=NO_DENOISER + ["training.collapse_distance=10.0", "denoiser=identity"],
                     epochs=1, out=tmp_path / "run")


def test_cli_train_prints_table(tiny_data, tmp_path, monkeypatch):
    from hpdesc.cli.main import app

    monkeypatch.setenv("HPDESC_RUNS", str(tmp_path / "runs"))
    args = ["train", "--data", str(tiny_data), "--skip-denoiser", "--descriptor", "hardnet", "--epochs", "1"]
    for s in NO_DENOISER:
        args += ["--set", s]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "identity+hardnet" in res.output and "Retrieval mAP" in res.output, res.output
    runs = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1 and runs[0].name.endswith("-identity-hardnet")
    assert hpdesc.latest_run() == runs[0].resolve()


def test_cli_denoiser_alone(tiny_data, tmp_path):
    from hpdesc.cli.main import app

    args = ["train", "--data", str(tiny_data), "--denoiser", "dncnn", "--epochs", "1", "--out", str(tmp_path / "r")]
    for s in NO_DESCRIPTOR:
        args += ["--set", s]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert (tmp_path / "r" / "denoiser.keras").exists() and not (tmp_path / "r" / "descriptor.keras").exists()
    assert "PSNR" in res.output


def test_cli_errors_are_one_line(tiny_data, tmp_path):
    from hpdesc.cli.main import app

    res = CliRunner().invoke(app, ["train", "--data", str(tiny_data), "--descriptor", "hardnett",
                                   "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "Did you mean 'hardnet'" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(app, ["train", "--set", "training.epoch=2"])
    assert res.exit_code == 2 and "unknown key training.epoch" in res.output
    res = CliRunner().invoke(app, ["train", "--data", str(tiny_data), "--set", "denoiser.depht=2"])
    assert res.exit_code == 2 and "rejected its parameters" in res.output
    assert not (tmp_path / "r").exists()


@pytest.mark.multiproc
def test_trains_on_jax_backend(tiny_data, tmp_path, jax_env):
    code = ("import hpdesc, sys; sys.path.insert(0, %r); from tiny import TINY; "
            "r = hpdesc.train(data=%r, sets=TINY, epochs=1, out=%r); "
            "assert r.finished; print('backend', r.config.provenance['backend'])"
            % (str(Path(__file__).parent), str(tiny_data), str(tmp_path / "run")))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=jax_env(), timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "backend jax" in res.stdout
