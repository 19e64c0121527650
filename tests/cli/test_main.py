"""The top-level command: version, help, and how errors reach the user."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from hpdesc import __version__
from hpdesc.cli.main import app

runner = CliRunner()


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.stdout.strip() == f"hpdesc {__version__}"


def test_help_lists_every_subcommand_and_an_example():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("train", "denoise", "describe", "benchmark", "data", "plugins"):
        assert cmd in res.stdout
    assert "Example:" in res.stdout


def test_unknown_component_is_a_usage_error_with_suggestion(tmp_path):
    res = runner.invoke(app, ["train", "--denoiser", "dncn", "--descriptor", "hardnet", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "unknown denoiser 'dncn'. Did you mean 'dncnn'?" in res.stderr
    assert "Traceback" not in res.output
    assert not (tmp_path / "r").exists()  # nothing written before the check


def test_bad_set_value_is_one_line(tmp_path):
    res = runner.invoke(app, ["train", "--denoiser", "dncnn", "--set", "denoiser.depth=many", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert res.stderr.startswith("error:") and "depth" in res.stderr
    assert "Traceback" not in res.output


def test_debug_shows_traceback(tmp_path):
    """Only --debug prints the traceback; the message line is the same."""
    missing = str(tmp_path / "missing.h5")
    plain = subprocess.run([sys.executable, "-m", "hpdesc", "data", "info", missing],
                           capture_output=True, text=True, timeout=120)
    debug = subprocess.run([sys.executable, "-m", "hpdesc", "--debug", "data", "info", missing],
                           capture_output=True, text=True, timeout=120)
    assert plain.returncode == debug.returncode == 2
    assert "Traceback" not in plain.stderr and "Traceback" in debug.stderr
    assert "no such file" in plain.stderr and "no such file" in debug.stderr


def test_error_text_with_brackets_is_shown_verbatim(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[training]\nepoch = 3\n")
    res = runner.invoke(app, ["train", "--config", str(cfg), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2
    assert "unknown key training.epoch" in res.stderr
    assert "keys of [training]:" in res.stderr  # rich markup must not eat the brackets


def test_sigterm_mid_write_leaves_no_temporary_file(tmp_path):
    """A killed command unwinds like Ctrl-C: the atomic writer's temporary file is removed."""
    import subprocess
    import sys

    script = (
        "import os, signal\n"
        "from hpdesc.cli.main import exit_on_sigterm\n"
        "from hpdesc.atomic import atomic_path\n"
        "exit_on_sigterm()\n"
        f"with atomic_path({str(tmp_path / 'out.h5')!r}) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "    import time; time.sleep(30)\n"
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert res.returncode == 128 + 15, res.stderr
    assert list(tmp_path.iterdir()) == []


def _commands(cmd, path=()):
    yield path, cmd
    if getattr(cmd, "commands", None):  # a group (typer vendors its own click)
        for name, sub in cmd.commands.items():
            yield from _commands(sub, path + (name,))


def test_help_texts_show_their_square_brackets():
    """Rich markup would swallow ``[base]`` in a help text (it reads it as a style tag): every
    bracketed word a help text means literally (e.g. TOML tables) must reach the rendered --help."""
    import re

    import typer

    markup = re.compile(r"^\[/?(bold|dim|red|yellow|green|cyan|italic|b|i)?\]$")
    checked = 0
    for path, cmd in _commands(typer.main.get_command(app)):
        texts = [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params]
        tokens = {t.replace("\\", "") for text in texts for t in re.findall(r"(?:\\?\[)+[A-Za-z_.]+\]+", text)}
        tokens = {t for t in tokens if not markup.match(t)}
        if not tokens:
            continue
        res = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert res.exit_code == 0, path
        for t in tokens:
            assert t in res.stdout, f"hpdesc {' '.join(path)} --help lost {t!r}"
            checked += 1
    assert checked >= 2  # at least the sweep file's [base] and [[axis]]
