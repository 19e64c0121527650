"""Comparison reports: table values are the runs' benchmark.json numbers; PNG + Markdown written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpdesc import config as C
from hpdesc.experiments.compare import compare, markdown_table
from hpdesc.experiments.comparison import collect
from hpdesc.training.callbacks import write_history

SCORES = {
    "den-dncnn": {"verification": 0.61, "matching": 0.2512, "retrieval": 0.7},
    "den-unet": {"verification": 0.55, "matching": 0.3333, "retrieval": 0.6},
}
RAW = {"verification": 0.4, "matching": 0.2, "retrieval": 0.5}


def fake_run(path: Path, denoiser: str, scores: dict, epochs: int = 3, finished: bool = True) -> Path:
    """A run directory as hpdesc train leaves it (config, histories, benchmark, state)."""
    path.mkdir(parents=True)
    C.resolve(sets=[f"denoiser={denoiser}"]).save(path / "config.toml")
    for k, stage in enumerate(("denoiser", "descriptor")):
        write_history(path / f"history_{stage}.csv",
                      [{"epoch": e, "loss": 1.0 / (e + k), "val_loss": 1.2 / (e + k)} for e in range(1, epochs + 1)])
    name = f"{denoiser}+hardnet"
    bench = {"run": name, "split": "default", "psnr": {"noisy": 20.0, "denoised": 24.5},
             "results": {name: {"headline": scores}, "raw": {"headline": RAW}}}
    (path / "benchmark.json").write_text(json.dumps(bench))
    (path / "state.json").write_text(json.dumps({"finished": finished, "benchmark_done": finished}))
    return path


@pytest.fixture()
def sweep_dir(tmp_path):
    d = tmp_path / "sweep"
    for name, scores in SCORES.items():
        fake_run(d / "runs" / name, name.split("-")[1], scores)
    manifest = {
        "format": "hpdesc.sweep", "format_version": 1, "title": "Table 1: denoisers", "mode": "grid",
        "metric": "total", "sweep_file": "table1.toml", "axes": [
            {"key": "denoiser", "values": ["dncnn", "unet"], "labels": ["dncnn", "unet"]}],
        "runs": [{"name": n, "path": f"runs/{n}", "step": None, "choice": {"denoiser": n.split("-")[1]},
                  "settings": {"denoiser": n.split("-")[1]}, "status": "finished"} for n in SCORES],
    }
    (d / "sweep.json").write_text(json.dumps(manifest))
    return d


def test_table_values_are_the_benchmark_numbers(sweep_dir):
    comp = collect([sweep_dir])
    runs = {r.name: r for r in comp.runs()}
    assert set(runs) == set(SCORES) and comp.columns == ["denoiser"]
    for name, scores in SCORES.items():
        m = runs[name].metrics
        for task, v in scores.items():
            assert m[task] == v
        assert m["total"] == pytest.approx(sum(scores.values()) / 3)
        assert m["psnr"] == 24.5 and m["val_loss_descriptor"] == pytest.approx(1.2 / 4)
    base = [r for r in comp.rows if r.baseline]
    assert [r.name for r in base] == ["raw (baseline)"] and base[0].metrics["matching"] == 0.2
    md = markdown_table(comp)
    assert "| `den-dncnn` | dncnn | **61.00** | 25.12 | **70.00** | **52.04** |" in md
    assert "| `den-unet` | unet | 55.00 | **33.33** | 60.00 | 49.44 |" in md
    assert comp.best().name == "den-dncnn"


def test_report_png_and_markdown_written(sweep_dir, tmp_path):
    comp, written = compare([sweep_dir])
    out = sweep_dir / "report"
    assert written["markdown"] == out / "report.md"
    md = (out / "report.md").read_text()
    assert md.startswith("# Table 1: denoisers") and "![denoiser](curves_den.png)" in md
    png = out / "curves_den.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert (out / "results.csv").read_text().splitlines()[1].startswith("den-dncnn,dncnn,0.61,")
    assert not list(out.glob(".*.tmp"))


def test_plain_run_dirs_and_cli(tmp_path):
    a = fake_run(tmp_path / "runs" / "a", "dncnn", SCORES["den-dncnn"])
    b = fake_run(tmp_path / "runs" / "b", "unet", SCORES["den-unet"], finished=False)
    comp = collect([a, b], baselines=False)
    assert comp.columns == ["denoiser"]  # the only config key that differs
    assert [r.status for r in comp.rows] == ["finished", "interrupted"]

    from hpdesc.cli.main import app

    out = tmp_path / "cmp"
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "runs"), "--out", str(out), "--sort"])
    assert res.exit_code == 0, res.output
    assert "61.00" in res.output and (out / "curves_runs.png").is_file()
    assert "![runs](curves_runs.png)" in (out / "report.md").read_text()
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "not a run directory" in res.output


def test_nan_metric_is_never_best_whatever_the_order():
    """A diverged run (NaN metric) neither wins `best` nor the bold cell, in any row order."""
    from hpdesc.experiments.compare import _best_values
    from hpdesc.experiments.comparison import Comparison, Row

    def rows(order):
        vals = {"a": float("nan"), "b": 0.5, "c": 0.7}
        return [Row(n, None, {}, "finished", {"total": vals[n]}) for n in order]

    for order in ("abc", "bac", "cab", "acb"):
        comp = Comparison(rows(order), [], metric="total")
        assert comp.best().name == "c", order
        assert _best_values(comp, ["total"]) == {"total": 0.7}, order


def test_a_report_into_a_run_never_replaces_the_runs_own_files(tmp_path):
    from hpdesc.cli.main import app

    a = fake_run(tmp_path / "runs" / "a", "dncnn", SCORES["den-dncnn"])
    fake_run(tmp_path / "runs" / "b", "unet", SCORES["den-unet"])
    (a / "curves_runs.png").write_bytes(b"the run's own figure")
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "runs"), "--out", str(a)])
    assert res.exit_code == 2, res.output
    assert "is the input" in " ".join(res.output.split()) and str(a / "curves_runs.png") in " ".join(res.output.split())
    assert (a / "curves_runs.png").read_bytes() == b"the run's own figure"
    assert not (a / "report.md").exists()
