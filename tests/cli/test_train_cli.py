"""`hpdesc train` passes its options to hpdesc.api.train, which holds the option rules."""
# (not test_train.py: tests/training/ has one, and tests/ has no __init__.py, so basenames must differ)

from __future__ import annotations

from typer.testing import CliRunner

from hpdesc.cli.main import app


def test_resume_with_another_setting_is_refused_naming_it(tmp_path):
    """--batch-size (any flag) with --resume would do nothing: refused, as --epochs is."""
    res = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "run"), "--batch-size", "4"])
    assert res.exit_code == 2
    assert "drop --batch-size" in res.stderr and "Traceback" not in res.output
