"""Direct tests of hpdesc.experiments.runinfo: run status and the results a run folder holds.

Run folders are written by hand with the writers the pipeline uses (config.toml, state.json,
history CSVs, benchmark.json as training/bench.py lays it out), so no training and no Keras.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hpdesc.atomic import write_json_atomic
from hpdesc.benchmark.evaluate import BenchmarkResult
from hpdesc.config import Component, RunConfig
from hpdesc.experiments.runinfo import RunInfo, has_started, is_complete, read_run
from hpdesc.training.callbacks import write_history
from hpdesc.training.run import RunDir

RUN_HEAD = {"verification": 0.8, "matching": 0.4, "retrieval": 0.6}
BASE_HEAD = {"raw": {"verification": 0.5, "matching": 0.1, "retrieval": 0.3},
             "sift": {"verification": 0.7, "matching": 0.3, "retrieval": 0.5}}
DEN_ROWS = [{"epoch": 1, "loss": 0.09, "val_loss": 0.05, "seconds": 1.0},
            {"epoch": 2, "loss": 0.06, "val_loss": 0.03, "seconds": 1.0},
            {"epoch": 3, "loss": 0.05, "val_loss": 0.04, "seconds": 1.0}]
DESC_ROWS = [{"epoch": 1, "loss": 1.2, "val_loss": 0.9, "spread": 1.1, "seconds": 2.0},
             {"epoch": 2, "loss": 0.8, "val_loss": 0.7, "spread": 1.2, "seconds": 2.0}]


def _result(name: str, head: dict, split: str = "default") -> dict:
    return BenchmarkResult(descriptor=name, descriptors_path=f"/x/{name}.h5", dataset="/x/data.h5",
                           split=split, protocol="python", distance="L2", headline=dict(head)).to_dict()


def _write(path: Path, cfg: RunConfig, state: dict | None = None, bench: dict | None = None,
           history: dict | None = None) -> Path:
    """A run folder with what the pipeline would have written by then."""
    run = RunDir(path)
    path.mkdir(parents=True)
    cfg.save(run.config)
    if state is not None:
        run.save_state(state)
    for stage, rows in (history or {}).items():
        write_history(run.history(stage), rows)
    if bench is not None:
        write_json_atomic(run.benchmark, bench)
    return path


def complete_run(path: Path) -> Path:
    """A finished run: both stages, the benchmark with the run and two baselines."""
    cfg = RunConfig()
    name = f"{cfg.denoiser.name}+{cfg.descriptor.name}"
    bench = {"split": "default", "protocol": "python", "tasks": list(cfg.benchmark.tasks),
             "results": {name: _result(name, RUN_HEAD), **{b: _result(b, BASE_HEAD[b]) for b in ("raw", "sift")}},
             "psnr": {"noisy": 20.5, "denoised": 27.25}, "run": name,
             "timings": {"describe": 1.0, "evaluate": 2.0}}
    state = {"denoiser_done": True, "descriptor_done": True, "benchmark_done": True, "finished": True,
             "timings": {"denoiser_train": 3.0}}
    return _write(path, cfg, state, bench, {"denoiser": DEN_ROWS, "descriptor": DESC_ROWS})


def interrupted_run(path: Path) -> Path:
    """Stopped in the descriptor stage: the denoiser done, one descriptor epoch, no benchmark."""
    state = {"denoiser_done": True, "timings": {"denoiser_train": 3.0}}
    return _write(path, RunConfig(), state, None, {"denoiser": DEN_ROWS, "descriptor": DESC_ROWS[:1]})


def denoiser_only_run(path: Path) -> Path:
    """``--descriptor none``: the benchmark is the denoising PSNR only (no ``run``, no results)."""
    cfg = RunConfig()
    cfg.descriptor = Component("none")
    bench = {"split": "default", "protocol": "python", "tasks": list(cfg.benchmark.tasks), "results": {},
             "psnr": {"noisy": 20.5, "denoised": 26.0}, "timings": {"describe": 1.0}}
    state = {"denoiser_done": True, "benchmark_done": True, "finished": True, "timings": {}}
    return _write(path, cfg, state, bench, {"denoiser": DEN_ROWS[:2]})


# -- is_complete / has_started --------------------------------------------------------------------
def test_complete_run_is_complete(tmp_path):
    p = complete_run(tmp_path / "r")
    assert is_complete(p) is True
    assert is_complete(str(p)) is True
    assert has_started(p) is True


def test_interrupted_run_has_started_but_is_not_complete(tmp_path):
    p = interrupted_run(tmp_path / "r")
    assert is_complete(p) is False
    assert has_started(p) is True


def test_run_with_only_its_config_has_started(tmp_path):
    p = _write(tmp_path / "r", RunConfig())  # killed before the first state write
    assert has_started(p) is True
    assert is_complete(p) is False


def test_denoiser_only_run_is_complete(tmp_path):
    assert is_complete(denoiser_only_run(tmp_path / "r")) is True


def test_finished_run_whose_benchmark_json_is_gone_is_not_complete(tmp_path):
    p = complete_run(tmp_path / "r")
    RunDir(p).benchmark.unlink()
    assert is_complete(p) is False
    assert has_started(p) is True


def test_finished_run_without_a_benchmark_is_complete(tmp_path):
    cfg = RunConfig()
    cfg.benchmark.enabled = False
    p = _write(tmp_path / "r", cfg, {"denoiser_done": True, "descriptor_done": True, "finished": True})
    assert is_complete(p) is True


@pytest.mark.parametrize("content", ["{not json", "", "[]", "null", '"finished"'])
def test_run_with_a_corrupt_state_is_not_complete(tmp_path, content):
    p = complete_run(tmp_path / "r")
    RunDir(p).state_path.write_text(content, encoding="utf-8")
    assert is_complete(p) is False
    assert has_started(p) is True
    assert read_run(p).status == "interrupted"


def test_a_folder_that_is_not_a_run(tmp_path):
    p = tmp_path / "notrun"
    p.mkdir()
    RunDir(p).save_state({"finished": True})  # a state alone does not make a run
    (p / "benchmark.json").write_text("{}")
    assert is_complete(p) is False
    assert has_started(p) is False


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_a_path_that_is_no_folder_is_not_a_run(tmp_path, kind):
    p = tmp_path / "x"
    if kind == "file":
        p.write_text("x")
    assert is_complete(p) is False
    assert has_started(p) is False
    info = read_run(p)
    assert (info.status, info.config, info.benchmark, info.history) == ("missing", {}, {}, {})


# -- read_run -------------------------------------------------------------------------------------
def test_read_run_of_a_complete_run(tmp_path):
    p = complete_run(tmp_path / "r")
    info = read_run(p)
    assert isinstance(info, RunInfo)
    assert info.path == p
    assert info.status == "finished"
    assert info.config == RunConfig().to_dict()  # the saved config.toml, read back
    assert info.descriptor_name == "dncnn+hardnet"
    assert info.headline() == RUN_HEAD
    assert info.baselines() == BASE_HEAD
    assert info.history == {"denoiser": DEN_ROWS, "descriptor": DESC_ROWS}
    assert info.metrics() == {"verification": 0.8, "matching": 0.4, "retrieval": 0.6,
                              "total": pytest.approx(0.6), "psnr": 27.25,
                              "val_loss_denoiser": 0.03, "loss_denoiser": 0.05,
                              "val_loss_descriptor": 0.7, "loss_descriptor": 0.8}


def test_headline_and_baselines_are_copies(tmp_path):
    info = read_run(complete_run(tmp_path / "r"))
    info.headline()["verification"] = -1.0
    info.baselines()["sift"]["verification"] = -1.0
    assert info.headline() == RUN_HEAD
    assert info.baselines() == BASE_HEAD


def test_read_run_of_an_interrupted_run(tmp_path):
    info = read_run(interrupted_run(tmp_path / "r"))
    assert info.status == "interrupted"
    assert info.config["descriptor"]["name"] == "hardnet"
    assert info.benchmark == {}
    assert info.descriptor_name is None
    assert info.headline() == {}
    assert info.baselines() == {}
    assert info.history == {"denoiser": DEN_ROWS, "descriptor": DESC_ROWS[:1]}
    assert info.metrics() == {"val_loss_denoiser": 0.03, "loss_denoiser": 0.05,
                              "val_loss_descriptor": 0.9, "loss_descriptor": 1.2}


def test_read_run_of_a_denoiser_only_run(tmp_path):
    info = read_run(denoiser_only_run(tmp_path / "r"))
    assert info.status == "finished"
    assert info.config["descriptor"] == {"name": "none"}
    assert info.descriptor_name is None
    assert info.headline() == {}
    assert info.baselines() == {}
    assert info.history == {"denoiser": DEN_ROWS[:2]}
    assert info.metrics() == {"psnr": 26.0, "val_loss_denoiser": 0.03, "loss_denoiser": 0.06}


def test_read_run_of_a_folder_that_is_not_a_run(tmp_path):
    p = tmp_path / "notrun"
    p.mkdir()
    write_history(RunDir(p).history("denoiser"), DEN_ROWS)  # files of a run, but no config.toml
    info = read_run(p)
    assert info.path == p
    assert (info.status, info.config, info.benchmark, info.history) == ("missing", {}, {}, {})
    assert info.descriptor_name is None
    assert info.headline() == {} and info.baselines() == {} and info.metrics() == {}


def test_metrics_total_is_the_mean_of_the_tasks_benchmarked(tmp_path):
    cfg = RunConfig()
    cfg.benchmark.tasks = ["verification", "retrieval"]
    bench = {"split": "default", "protocol": "python", "tasks": ["verification", "retrieval"], "run": "d+h",
             "results": {"d+h": _result("d+h", {"verification": 0.9, "retrieval": 0.4})}, "psnr": {}}
    info = read_run(_write(tmp_path / "r", cfg, {"finished": True, "benchmark_done": True}, bench))
    assert info.metrics() == {"verification": 0.9, "retrieval": 0.4, "total": pytest.approx(0.65)}
    assert info.baselines() == {}


def test_corrupt_files_read_as_absent(tmp_path):
    p = complete_run(tmp_path / "r")
    RunDir(p).benchmark.write_text("{truncated", encoding="utf-8")
    RunDir(p).config.write_text("[data\nnot toml", encoding="utf-8")
    info = read_run(p)
    assert info.status == "finished"  # the state says so and benchmark.json exists
    assert info.config == {} and info.benchmark == {}
    assert info.headline() == {} and info.descriptor_name is None
    assert info.metrics() == {"val_loss_denoiser": 0.03, "loss_denoiser": 0.05,
                              "val_loss_descriptor": 0.7, "loss_descriptor": 0.8}


@pytest.mark.parametrize("content", ["[]", "null", "3"])
def test_benchmark_json_that_is_not_an_object_reads_as_absent(tmp_path, content):
    p = complete_run(tmp_path / "r")
    RunDir(p).benchmark.write_text(content, encoding="utf-8")
    info = read_run(p)
    assert info.benchmark == {}
    assert info.headline() == {} and info.baselines() == {} and info.descriptor_name is None
    assert "verification" not in info.metrics()


@pytest.mark.parametrize("vals,best", [([float("nan"), 0.5, 0.7], 0.5), ([0.6, float("nan"), 0.5], 0.5),
                                       ([None, 0.4], 0.4), ([float("inf"), 0.2], 0.2)])
def test_val_loss_is_the_lowest_number_not_a_nan(tmp_path, vals, best):
    """A diverged epoch (NaN, recorded when the watchdog only warns) does not hide the good ones."""
    rows = [{"epoch": i + 1, "loss": 0.5, "val_loss": v} for i, v in enumerate(vals)]
    info = read_run(_write(tmp_path / "r", RunConfig(), {}, None, {"denoiser": rows}))
    assert info.metrics()["val_loss_denoiser"] == best


def test_val_loss_of_only_nans_is_nan(tmp_path):
    rows = [{"epoch": 1, "loss": 0.5, "val_loss": float("nan")}]
    info = read_run(_write(tmp_path / "r", RunConfig(), {}, None, {"denoiser": rows}))
    assert math.isnan(info.metrics()["val_loss_denoiser"])


def test_benchmark_json_is_read_as_written(tmp_path):
    p = complete_run(tmp_path / "r")
    info = read_run(p)
    assert info.benchmark == json.loads(RunDir(p).benchmark.read_text(encoding="utf-8"))
    assert info.benchmark["results"]["dncnn+hardnet"]["mean"] == pytest.approx(0.6)
