"""`hpdesc data synth --sequences DIR`: sequence folders; an integer keeps meaning the patch file's count."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hpdesc.cli.main import app
from hpdesc.data.sequences import find_sequences

runner = CliRunner()


def _one_line_error(res, *fragments):
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error:"), res.stderr
    for frag in fragments:
        assert frag in res.stderr


def test_done_when_command_writes_sequence_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["data", "synth", "--sequences", "seqs"])
    assert res.exit_code == 0, res.output
    folders = find_sequences(tmp_path / "seqs")
    assert len(folders) == 24 and "wrote" in res.stdout and "seqs" in res.stdout
    assert sum(f.name.startswith("v_") for f in folders) == 12
    assert not list(tmp_path.glob("*.h5"))  # no patch file was built


def test_count_and_folder_together(tmp_path):
    res = runner.invoke(app, ["data", "synth", "--sequences", "4", "--sequences", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert len(find_sequences(tmp_path / "s")) == 4


def test_existing_folder_needs_force(tmp_path):
    out = tmp_path / "s"
    assert runner.invoke(app, ["data", "synth", "--sequences", "2", "--sequences", str(out)]).exit_code == 0
    _one_line_error(runner.invoke(app, ["data", "synth", "--sequences", "2", "--sequences", str(out)]),
                    "already exists")
    res = runner.invoke(app, ["data", "synth", "--sequences", "4", "--sequences", str(out), "--force"])
    assert res.exit_code == 0, res.output
    assert len(find_sequences(out)) == 4


@pytest.mark.parametrize("args,frag", [
    (["--sequences", "s", "--patches", "10"], "--patches"),
    (["--sequences", "s", "--out", "x.h5"], "--out"),
    (["--sequences", "s", "--sequences", "t"], "one folder"),
    (["--sequences", "4", "--sequences", "6"], "one count"),
    (["--sequences", "1", "--sequences", "s"], "at least 2"),
])
def test_bad_combinations_are_one_line(tmp_path, monkeypatch, args, frag):
    monkeypatch.chdir(tmp_path)
    _one_line_error(runner.invoke(app, ["data", "synth", *args]), frag)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_help_explains_both_meanings():
    res = runner.invoke(app, ["data", "synth", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    assert "folder" in res.stdout and "integer" in res.stdout
