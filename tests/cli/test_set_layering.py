"""`hpdesc train` / `hpdesc describe`: --set parameters reach the component the flags pick, or fail."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from hpdesc import config as C
from hpdesc import validate
from hpdesc.cli.main import app
from hpdesc.errors import UsageError

runner = CliRunner()


def test_train_set_reaches_the_flag_component(tmp_path, monkeypatch):
    seen = {}

    def stop(cfg):  # the resolved config, before anything is built or written
        seen["cfg"] = cfg
        raise UsageError("stopped by the test")

    monkeypatch.setattr(validate, "check_components", stop)
    res = runner.invoke(app, ["train", "--denoiser", "unet", "--descriptor", "hardnet",
                              "--set", "denoiser.activation=leaky_relu", "--set", "denoiser.alpha=0.3",
                              "--descriptor-optimizer", "sgd", "--set", "descriptor_optimizer.learning_rate=0.05",
                              "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "stopped by the test" in res.stderr
    cfg = seen["cfg"]
    assert cfg.denoiser == C.Component("unet", {"activation": "leaky_relu", "alpha": 0.3})
    assert cfg.descriptor_optimizer == C.Component("sgd", {"learning_rate": 0.05})
    assert cfg.descriptor == C.Component("hardnet", {"dropout": 0.1})


def test_train_file_parameter_for_a_replaced_component_is_one_line(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[denoiser]\nname = "dncnn"\nactivation = "leaky_relu"\n')
    res = runner.invoke(app, ["train", "--config", str(cfg), "--denoiser", "unet", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "denoiser.activation was set for 'dncnn', but the denoiser is now 'unet' (--denoiser)" in res.stderr
    assert "Traceback" not in res.output
    assert not (tmp_path / "r").exists()


def test_train_descriptor_parameter_without_a_descriptor_is_refused(tmp_path):
    # --denoiser alone trains no descriptor: a descriptor parameter would do nothing
    res = runner.invoke(app, ["train", "--denoiser", "unet", "--set", "descriptor.filters=8",
                              "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "descriptor.filters cannot take effect: no descriptor is trained" in res.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, what", [
    (["--run", "RUN", "--set", "descriptor.root=true"], "descriptor.root"),
    (["--descriptor", "raw", "--set", "denoiser.depth=3"], "denoiser.depth"),
    (["--descriptor", "raw", "--denoiser", "identity", "--set", "denoiser.depth=3"], "denoiser.depth"),
    (["--descriptor", "raw", "--set", "descriptor.dim=64"], "dim=64"),  # raw's width is size * size
])
def test_describe_set_for_a_model_not_picked_by_name_is_refused(tmp_path, args, what):
    args = [str(tmp_path / "run") if a == "RUN" else a for a in args]
    res = runner.invoke(app, ["describe", *args, "--out", str(tmp_path / "d.h5")])
    assert res.exit_code == 2, res.output
    assert what in res.stderr and "cannot take effect" in res.stderr
    assert "Traceback" not in res.output
    assert not (tmp_path / "d.h5").exists()
