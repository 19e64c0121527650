"""Sweeps: a tiny grid end to end (names, skip, resume, manifest) and greedy selection (fake runner)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import hpdesc
from hpdesc.experiments.manifest import read_manifest
from hpdesc.experiments.sweep import Sweep, run_name
from hpdesc.experiments.sweepfile import load_sweep, parse_sweep

TINY_BASE = """\
[base]
descriptor = "none"
[base.training]
denoiser_epochs = 2
denoiser_samples_per_epoch = 32
denoiser_batch_size = 16
denoiser_val_samples = 16
prefetch = 1
[base.denoiser]
name = "dncnn"
depth = 3
filters = 8
"""


def make_tiny_dataset(path, n_seq: int = 4, n_patches: int = 6):
    from hpdesc.data.store import DatasetWriter

    rng = np.random.default_rng(0)
    names = [f"{'iv'[i % 2]}_t{i}" for i in range(n_seq)]
    with DatasetWriter(path, names, [n_patches] * n_seq, {"source": "sweep test"}) as w:
        for name in names:
            clean = rng.integers(60, 200, size=(n_patches, 16, 32, 32), dtype=np.uint8)
            noisy = np.clip(clean + rng.normal(0, 10, clean.shape), 0, 255).astype(np.uint8)
            w.put(name, clean, noisy)
        w.set_split("default", train=names[:3], test=names[3:])
    return path


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny.h5")


def sweep_file(tmp_path, data, out, axes: str, mode="grid", metric="val_loss_denoiser") -> Path:
    p = tmp_path / "sweep.toml"
    p.write_text(f'mode = "{mode}"\nmetric = "{metric}"\nout = "{out}"\n' + TINY_BASE
                 + f'[base.data]\npath = "{data}"\n' + textwrap.dedent(axes), encoding="utf-8")
    return p


def test_run_names_are_short_and_deterministic():
    spec = parse_sweep(textwrap.dedent("""\
        [[axis]]
        key = "denoiser_optimizer.learning_rate"
        values = [0.01, 1e-4]
        [[axis]]
        key = "descriptor_optimizer"
        values = [{ name = "sgd", learning_rate = 0.1 }, "adam"]
        """))
    assert run_name(spec, {0: 0}) == "dopt.lr-0.01"
    assert run_name(spec, {0: 1, 1: 0}) == "dopt.lr-0.0001__descopt-sgd+lr=0.1"
    assert run_name(spec, {}) == "base"
    assert run_name(spec, {0: 0, 1: 1}) == run_name(spec, {1: 1, 0: 0})


def test_grid_end_to_end_skip_and_resume(tiny_data, tmp_path):
    out = tmp_path / "sw"
    f = sweep_file(tmp_path, tiny_data, out, """\
        [[axis]]
        key = "denoiser_optimizer.learning_rate"
        values = [0.01, 0.001]
        """)
    spec = load_sweep(f)
    planner = Sweep(spec)
    first, second = planner.plan_grid()
    assert [first.name, second.name] == ["dopt.lr-0.01", "dopt.lr-0.001"]
    # an interrupted run: one epoch of two, as after Ctrl-C / a killed job
    r = hpdesc.train(first.config, out=first.path, max_epochs_this_session=1)
    assert r.status == "interrupted"

    logs: list[str] = []
    sweep = Sweep(spec, log=logs.append).run()
    assert [it.status for it in sweep.items] == ["finished", "finished"]
    assert any("dopt.lr-0.01: resuming" in m for m in logs) and any("dopt.lr-0.001: training" in m for m in logs)
    hist = (out / "runs" / "dopt.lr-0.01" / "history_denoiser.csv").read_text().splitlines()
    assert [ln.split(",")[0] for ln in hist[1:]] == ["1", "2"]  # continued, not restarted
    man = read_manifest(out)
    assert [r["name"] for r in man["runs"]] == ["dopt.lr-0.01", "dopt.lr-0.001"]
    assert all(r["status"] == "finished" and r["metrics"]["val_loss_denoiser"] > 0 for r in man["runs"])
    assert man["runs"][0]["settings"] == {"denoiser_optimizer.learning_rate": "0.01"}
    assert man["best"] in ("dopt.lr-0.01", "dopt.lr-0.001")

    # second invocation through the CLI: everything is complete, nothing is trained
    from hpdesc.cli.main import app

    mtime = (out / "runs" / "dopt.lr-0.001" / "denoiser.keras").stat().st_mtime
    res = CliRunner().invoke(app, ["sweep", str(f)])
    assert res.exit_code == 0, res.output
    assert res.output.count("already complete, skipped") == 2
    assert (out / "runs" / "dopt.lr-0.001" / "denoiser.keras").stat().st_mtime == mtime
    assert (out / "report" / "report.md").is_file() and (out / "report" / "curves_dopt.lr.png").is_file()

    # a changed base must not silently reuse the old run directories
    from hpdesc.errors import ConfigError

    with pytest.raises(ConfigError, match="holds a run with other settings"):
        Sweep(load_sweep(f, sets=["training.denoiser_epochs=3"]), runner=lambda it, resume: {}).run()


def _fake(scores, calls):
    """A runner that trains nothing: the metric is a function of the run's settings."""

    def run(item, resume):
        calls.append(item.name)
        return {"status": "finished", "metrics": {"total": scores(item.choice),
                                                  "val_loss_denoiser": -scores(item.choice)}}

    return run


def test_greedy_fixes_the_best_value_of_each_axis(tiny_data, tmp_path):
    f = sweep_file(tmp_path, tiny_data, tmp_path / "g", """\
        [[axis]]
        key = "denoiser_optimizer.learning_rate"
        values = [0.1, 0.01, 0.001]
        [[axis]]
        key = "denoiser.alpha"
        values = [0.1, 0.2]
        [[axis]]
        key = "training.denoiser_batch_size"
        values = [16, 32]
        """, mode="greedy", metric="total")
    spec = load_sweep(f, sets=["denoiser.activation=leaky_relu"])  # alpha only shapes LeakyReLU
    # best lr is 0.01 (index 1); then alpha 0.1 wins only together with lr 0.01; batch 32 wins
    table = {0: [0.2, 0.5, 0.3], 1: [0.2, 0.1], 2: [0.0, 0.05]}
    calls: list[str] = []
    sweep = Sweep(spec, runner=_fake(lambda c: sum(table[a][i] for a, i in c.items()), calls)).run()
    assert [g["label"] for g in sweep.greedy] == ["0.01", "0.1", "32"]
    assert calls[:3] == ["dopt.lr-0.1", "dopt.lr-0.01", "dopt.lr-0.001"]
    assert calls[3:5] == ["dopt.lr-0.01__den.alpha-0.1", "dopt.lr-0.01__den.alpha-0.2"]
    # batch 16 is the base value: that run is the step-2 winner again, so it is not run twice
    assert calls[5:] == ["dopt.lr-0.01__den.alpha-0.1__tr.dbs-32"]
    assert sweep.best().name == "dopt.lr-0.01__den.alpha-0.1__tr.dbs-32"
    man = json.loads((tmp_path / "g" / "sweep.json").read_text())
    assert man["mode"] == "greedy" and [g["run"] for g in man["greedy"]][-1] == sweep.best().name

    # lower is better for losses
    spec.metric = "val_loss_denoiser"
    sweep = Sweep(spec, runner=_fake(lambda c: sum(table[a][i] for a, i in c.items()), []),
                  check_existing=False).run()
    assert [g["label"] for g in sweep.greedy][0] == "0.01"  # -score: the lowest loss is the best total


def test_greedy_reuses_identical_configs_and_skips_failures(tiny_data, tmp_path):
    f = sweep_file(tmp_path, tiny_data, tmp_path / "g2", """\
        [[axis]]
        key = "denoiser_optimizer.learning_rate"
        values = [0.1, 0.01]
        [[axis]]
        key = "training.denoiser_batch_size"
        values = [16, 8]
        """, mode="greedy", metric="total")
    calls: list[str] = []

    def runner(item, resume):
        calls.append(item.name)
        if item.choice.get(0) == 0:
            return {"status": "failed", "error": "diverged"}
        return {"status": "finished", "metrics": {"total": 0.5 if item.choice.get(1) == 1 else 0.4}}

    sweep = Sweep(load_sweep(f), runner=runner, jobs=2).run()
    # base batch size is 16: "lr 0.01, batch 16" is the step-1 run again, not trained twice
    assert calls.count("dopt.lr-0.01") == 1 and "dopt.lr-0.01__tr.dbs-16" not in calls
    alias = next(it for it in sweep.items if it.name == "dopt.lr-0.01__tr.dbs-16")
    assert alias.same_as == "dopt.lr-0.01" and alias.metrics == {"total": 0.4}
    assert [g["label"] for g in sweep.greedy] == ["0.01", "8"]
    assert [it.name for it in sweep.failed] == ["dopt.lr-0.1"]
