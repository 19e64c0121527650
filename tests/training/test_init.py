"""``hpdesc train --init``: one resolver for run directories, .keras files and PyTorch checkpoints."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny import make_tiny_dataset, tiny_sets  # noqa: E402

from hpdesc.errors import HpdescError, PluginError, UsageError  # noqa: E402
from hpdesc.training.init import resolve_init  # noqa: E402


def test_resolver_refusals(tmp_path):
    with pytest.raises(UsageError, match="no such file or run directory"):
        resolve_init(tmp_path / "nope.pth")
    (tmp_path / "w.h5").write_bytes(b"x")
    with pytest.raises(UsageError, match="not a run directory, a .keras file or a PyTorch checkpoint"):
        resolve_init(tmp_path / "w.h5")
    with pytest.raises(UsageError, match="not an hpdesc run directory"):
        resolve_init(tmp_path)
    with pytest.raises(UsageError, match="no model zoo"):
        resolve_init("zoo:hardnet")


def test_pth_without_torch_is_one_line(tmp_path, monkeypatch):
    path = tmp_path / "hardnet.pth"
    path.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ImportError
    with pytest.raises(PluginError, match=r"reading a PyTorch checkpoint needs torch.*not installed") as info:
        resolve_init(path)
    assert "hpdesc[interop]" in info.value.hint


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_tiny_dataset(tmp_path_factory.mktemp("data") / "tiny.h5", n_seq=4, n_patches=8)


def test_cli_init_from_a_run_and_a_keras_file(tiny_data, tmp_path):
    from typer.testing import CliRunner

    import hpdesc
    from hpdesc.cli.main import app

    base = ["train", "--data", str(tiny_data), "--skip-denoiser", "--descriptor", "hardnet",
            "--set", "training.descriptor_epochs=0", "--set", "benchmark.enabled=false"]
    for s in tiny_sets(denoiser=False):
        base += ["--set", s]
    runner = CliRunner()
    res = runner.invoke(app, [*base, "--set", "training.seed=1", "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    first = hpdesc.load_run(tmp_path / "a").descriptor.get_weights()
    for i, spec in enumerate([tmp_path / "a", tmp_path / "a" / "descriptor.keras"]):
        res = runner.invoke(app, [*base, "--init", str(spec), "--out", str(tmp_path / f"b{i}")])
        assert res.exit_code == 0, res.output
        run = hpdesc.load_run(tmp_path / f"b{i}")
        assert run.config.training.init == str(Path(spec).resolve())
        for w0, w1 in zip(first, run.descriptor.get_weights()):
            np.testing.assert_array_equal(w0, w1)
    # another architecture: one line, before any run directory is made
    res = runner.invoke(app, [*base, "--init", str(tmp_path / "a"), "--set", "descriptor.filters=8",
                              "--out", str(tmp_path / "c")])
    assert res.exit_code == 2 and "not the same architecture" in " ".join(res.stderr.split()), res.output
    assert not (tmp_path / "c").exists()
    # a run's descriptor cannot initialise a run that trains only a denoiser
    with pytest.raises(HpdescError, match="trains none of them"):
        hpdesc.train(data=tiny_data, denoiser="dncnn", init=str(tmp_path / "a"), out=tmp_path / "d",
                     sets=tiny_sets(descriptor=False))
