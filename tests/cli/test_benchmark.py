"""`hpdesc benchmark` through typer's CliRunner on a tiny dataset."""

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hpdesc.cli import benchmark as bench_cli
from tests.benchmark.conftest import _cache_env, tiny  # noqa: F401 - the benchmark tests' fixtures


@pytest.fixture(scope="module")
def app():
    a = typer.Typer()

    @a.callback()
    def _root() -> None:
        pass

    bench_cli.register(a)
    return a


def run(app, *args):
    res = CliRunner().invoke(app, ["benchmark", *map(str, args)])
    return res.exit_code, res.output


def _one_error_line(out):
    lines = [ln for ln in out.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error:"), out
    assert "Traceback" not in out
    assert len([ln for ln in lines if not ln.strip().startswith("hint:")]) == 1, out


def test_headline_json_markdown(app, tiny, tmp_path):
    code, out = run(app, "--descriptors", tiny["descriptors"], "--split", "a", "--breakdown",
                    "--json", tmp_path / "r.json", "--markdown", tmp_path / "r.md")
    assert code == 0, out
    assert "Retrieval mAP" in out and "Mean" in out and "tough" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["split"] == "a" and data["protocol"] == "python" and data["distance"] == "L2"
    assert set(data["headline"]) == {"verification", "matching", "retrieval"}
    assert "| toy |" in (tmp_path / "r.md").read_text()


def test_single_task_paper_l1(app, tiny):
    code, out = run(app, "-d", tiny["descriptors"], "--task", "retrieval", "--protocol", "paper", "--distance", "L1")
    assert code == 0, out
    assert "Retrieval mAP" in out and "Verification" not in out


def test_compare_and_plot(app, tiny, tmp_path):
    code, out = run(app, "--compare", tiny["descriptors"], tiny["descriptors"], "--task", "matching",
                    "--plot", tmp_path / "p.png")
    assert code == 0, out
    assert "comparison" in out
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_compare_rows_are_unique_and_recognisable(app, tiny, tmp_path):
    """Files with the same label get their file stem; the same file twice still gets two rows."""
    import shutil

    a, b = tmp_path / "first.h5", tmp_path / "second.h5"
    shutil.copy(tiny["descriptors"], a)
    shutil.copy(tiny["descriptors"], b)
    code, out = run(app, "--compare", a, b, a, "--task", "matching", "--markdown", tmp_path / "c.md")
    assert code == 0, out
    assert "toy [first]" in out and "toy [second]" in out
    md = (tmp_path / "c.md").read_text()
    rows = [ln.split("|")[1].strip() for ln in md.splitlines() if ln.startswith("| toy")]
    assert len(rows) == 3 and len(set(rows)) == 3, rows


def test_context_is_printed_full_width_not_squeezed_under_a_narrow_table(app, tiny):
    code, out = run(app, "-d", tiny["descriptors"], "--task", "retrieval")
    assert code == 0, out
    want = f"dataset {tiny['dataset']} | split a | protocol python | distance L2"
    assert any(want in ln for ln in out.splitlines()), out


def test_export_import_subcommands(app, tiny, tmp_path):
    code, out = run(app, "export-csv", tiny["descriptors"], tmp_path / "csv", "--name", "toy")
    assert code == 0, out
    code, out = run(app, "import-csv", tmp_path / "csv" / "toy", "--data", tiny["dataset"], "--out", tmp_path / "i.h5")
    assert code == 0, out
    assert (tmp_path / "i.h5").exists()


@pytest.mark.parametrize("case", ["missing", "wrong_format", "not_hdf5", "bad_task", "bad_split", "no_args"])
def test_bad_input_one_line(app, tiny, tmp_path, case):
    bad = tmp_path / "x.h5"
    bad.write_text("not hdf5")
    args = {
        "missing": ["-d", tmp_path / "nope.h5"],
        "wrong_format": ["-d", tiny["dataset"]],
        "not_hdf5": ["-d", bad],
        "bad_task": ["-d", tiny["descriptors"], "--task", "matchin"],
        "bad_split": ["-d", tiny["descriptors"], "--split", "zz"],
        "no_args": [],
    }[case]
    code, out = run(app, *args)
    assert code != 0
    _one_error_line(out)
    if case == "no_args":
        assert "--descriptors" in out


def test_import_row_count_error(app, tiny, tmp_path):
    run(app, "export-csv", tiny["descriptors"], tmp_path / "csv", "--name", "toy")
    f = tmp_path / "csv" / "toy" / "i_gamma" / "ref.csv"
    f.write_text("\n".join(f.read_text().splitlines()[:3]) + "\n")
    code, out = run(app, "import-csv", tmp_path / "csv" / "toy", "--data", tiny["dataset"], "--out", tmp_path / "i.h5")
    assert code == 1
    _one_error_line(out)
    assert "i_gamma" in out and "ref" in out


def test_memory_limit_reads_in_parts_with_the_same_numbers(app, tiny, tmp_path, monkeypatch):
    """--memory 0.01 (MiB; the set's 6 images of one level need 0.05) makes verification read the
    descriptors in groups of sequences: the same numbers."""
    from hpdesc.benchmark import verification as E

    calls = []
    real = E._grouped_distances
    monkeypatch.setattr(E, "_grouped_distances", lambda *a, **k: calls.append(a[-1]) or real(*a, **k))
    outs = {}
    for name, extra in (("default", []), ("small", ["--memory", "0.01"])):
        code, out = run(app, "-d", tiny["descriptors"], "--task", "verification", "--no-cache",
                        "--json", tmp_path / f"{name}.json", *extra)
        assert code == 0, out
        outs[name] = json.loads((tmp_path / f"{name}.json").read_text())["breakdown"]["verification"]
    assert calls == [int(0.01 * 2**20)] * 3  # once per level, only for the small budget
    assert outs["small"] == outs["default"]
    code, out = run(app, "-d", tiny["descriptors"], "--memory", "0")
    assert code == 2 and "--memory" in out


def test_every_option_reaches_the_api(app, tiny, tmp_path, monkeypatch):
    """The CLI only parses: every option goes to hpdesc.api.benchmark, which does the work."""
    from hpdesc import api
    from hpdesc.benchmark.evaluate import BenchmarkResult
    from hpdesc.cli.common import RichReporter

    seen = {}

    def fake(descriptors=None, **kw):
        seen.update(kw, descriptors=descriptors)
        return [BenchmarkResult("toy", str(f), "d.h5", "a", "paper", "L1", headline={"matching": 0.5})
                for f in descriptors]

    monkeypatch.setattr(api, "evaluate", fake)
    tasks, a, b = tmp_path / "tasks", tmp_path / "a.h5", tmp_path / "b.h5"
    code, out = run(app, "-d", a, "--data", "d.h5", "--split", "s", "--task", "matching", "--protocol", "paper",
                    "--distance", "L1", "--tasks", tasks, "--memory", "2", "--no-cache", "--json", tmp_path / "r.json",
                    "--markdown", tmp_path / "r.md", "--plot", tmp_path / "p.png", "--compare", b)
    assert code == 0, out
    progress = seen.pop("progress")
    assert isinstance(progress, RichReporter)
    assert seen == {"descriptors": [a, b], "run": None, "data": Path("d.h5"), "split": "s", "tasks": ["matching"],
                    "protocol": "paper", "distance": "L1", "tasks_dir": tasks, "cache": False, "memory": 2 * 2**20,
                    "json": tmp_path / "r.json", "markdown": tmp_path / "r.md", "plot": tmp_path / "p.png"}
    assert "comparison of 2" in out and f"wrote {tmp_path / 'r.json'}" in out
    seen.clear()
    code, out = run(app, "--run", tmp_path / "run")
    assert code == 0, out
    assert seen["run"] == tmp_path / "run" and seen["descriptors"] == [] and seen["cache"] is True
