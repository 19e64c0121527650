"""`hpdesc data ...` from the command line: info, show, export, import, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from hpdesc.cli.main import app
from hpdesc.data.store import DatasetWriter, open_dataset

runner = CliRunner()


@pytest.fixture()
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.h5"
    with DatasetWriter(path, ["i_a", "v_b"], [3, 2], {"source": "test", "noise": {"model": "x"}}) as w:
        for name, n in (("i_a", 3), ("v_b", 2)):
            w.put(name, rng.integers(0, 255, (n, 16, 32, 32), dtype=np.uint8),
                  rng.integers(0, 255, (n, 16, 32, 32), dtype=np.uint8))
        w.set_split("default", train=["i_a"], test=["v_b"])
    return path


def _one_line_error(res, *fragments):
    assert res.exit_code != 0
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error:"), res.stderr
    for frag in fragments:
        assert frag in res.stderr


def test_info(dataset):
    res = runner.invoke(app, ["data", "info", str(dataset)])
    assert res.exit_code == 0, res.output
    assert "2 (1 i_, 1 v_)" in res.stdout
    assert "1 train / 1 test" in res.stdout


def test_show_writes_png(dataset, tmp_path):
    out = tmp_path / "m.png"
    res = runner.invoke(app, ["data", "show", str(dataset), "--sequence", "v_b", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_then_import_cli(dataset, tmp_path):
    folder = tmp_path / "nhp"
    assert runner.invoke(app, ["data", "export", str(dataset), "--out", str(folder)]).exit_code == 0
    out = tmp_path / "back.h5"
    res = runner.invoke(app, ["data", "import", str(folder), "--out", str(out)])
    assert res.exit_code == 0, res.output
    with open_dataset(dataset) as a, open_dataset(out) as b:
        np.testing.assert_array_equal(a.array("noisy")[()], b.array("noisy")[()])


def test_bad_inputs_are_one_line(dataset, tmp_path):
    _one_line_error(runner.invoke(app, ["data", "info", str(tmp_path / "nope.h5")]), "no such file")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    _one_line_error(runner.invoke(app, ["data", "info", str(junk)]), "not an HDF5 file", "junk.h5")
    _one_line_error(runner.invoke(app, ["data", "show", str(dataset), "--sequence", "zz"]), "no sequence 'zz'")
    _one_line_error(runner.invoke(app, ["data", "import", str(tmp_path)]), "no sequence folders")
    out = tmp_path / "x"
    _one_line_error(runner.invoke(app, ["data", "export", str(dataset), "--out", str(out), "--layout", "zip"]),
                    "unknown layout")
    assert not out.exists()
