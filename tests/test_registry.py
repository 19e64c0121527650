"""The entry-point registry: discovery, lookup errors, duplicates, broken plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from hpdesc import registry
from hpdesc.cli.main import app
from hpdesc.errors import PluginError, UnknownComponentError, UsageError
from tests.fakedist import activate, make_dist

GOOD = '''
"""A fake plugin module."""

def tfeat(input_shape=(32, 32, 1), dim=128, width=4):
    """TFeat-like toy descriptor for tests."""
    return ("tfeat", input_shape, dim, width)

def charbonnier(eps=1e-3):
    """Charbonnier loss (toy)."""
    return ("charbonnier", eps)

def hardnet(input_shape=(32, 32, 1), dim=128):
    """A second hardnet, to clash with the built-in name."""
    return "fake-hardnet"
'''


@pytest.fixture()
def plugins(tmp_path, monkeypatch):
    root = tmp_path / "site"
    make_dist(root, "fake-plugin", "1.2.3",
              {"hpdesc.descriptors": {"tfeat": "fakeplug_good:tfeat", "hardnet": "fakeplug_good:hardnet",
                                      "broken": "fakeplug_broken:build"},
               "hpdesc.denoiser_losses": {"charbonnier": "fakeplug_good:charbonnier"}},
              {"fakeplug_good": GOOD, "fakeplug_broken": "raise ImportError('needs libfoo')\n"})
    activate(root, monkeypatch)
    yield root
    registry.refresh()


def test_builtins_are_declared_as_entry_points():
    got = {(e.kind, e.name) for e in registry.entries() if e.distribution == "hpdesc"}
    for want in [("denoiser", "dncnn"), ("denoiser", "unet"), ("denoiser", "identity"),
                 ("descriptor", "hardnet"), ("descriptor", "sift"), ("descriptor_loss", "triplet"),
                 ("denoiser_loss", "mae"), ("optimizer", "sgd"), ("optimizer", "adam")]:
        assert want in got


def test_entry_records_distribution_and_value():
    e = registry.get("optimizer", "adam")
    assert e.distribution == "hpdesc"
    assert e.value == "hpdesc.optimizers:adam"
    assert e.group == "hpdesc.optimizers"
    assert e.summary  # first docstring line of the factory


def test_unknown_name_suggests_closest_and_lists_available():
    with pytest.raises(UnknownComponentError) as info:
        registry.get("descriptor", "hardnett")
    assert "Did you mean 'hardnet'" in info.value.message
    assert "sift" in info.value.hint
    assert info.value.exit_code == 2


def test_unknown_kind():
    with pytest.raises(UsageError):
        registry.entries("nonsense")


def test_third_party_plugin_is_discovered_and_built(plugins):
    e = registry.get("descriptor", "tfeat")
    assert (e.distribution, e.version) == ("fake-plugin", "1.2.3")
    assert registry.build("descriptor", "tfeat", (32, 32, 1), dim=64, width=8) == ("tfeat", (32, 32, 1), 64, 8)
    assert registry.build("denoiser_loss", "charbonnier", eps=0.1) == ("charbonnier", 0.1)


def test_bad_parameter_is_one_clear_error(plugins):
    with pytest.raises(UsageError) as info:
        registry.build("descriptor", "tfeat", (32, 32, 1), dim=64, depth=3)
    msg = info.value.message
    assert "'tfeat'" in msg and "fake-plugin" in msg and "depth" in msg
    assert "width" in info.value.hint


def test_duplicate_name_is_an_error_listing_both(plugins):
    with pytest.raises(UsageError) as info:
        registry.get("descriptor", "hardnet")
    assert "hpdesc:hardnet" in info.value.message and "fake-plugin:hardnet" in info.value.message
    assert registry.get("descriptor", "fake-plugin:hardnet").load()() == "fake-hardnet"
    assert registry.get("descriptor", "hpdesc:hardnet").distribution == "hpdesc"


def test_broken_plugin_reports_import_error_and_isolates(plugins):
    with pytest.raises(PluginError) as info:
        registry.load("descriptor", "broken")
    assert "fake-plugin" in info.value.message and "needs libfoo" in info.value.message
    # everything else still works
    assert registry.build("descriptor", "tfeat") == ("tfeat", (32, 32, 1), 128, 4)


def test_plugins_command_lists_broken_and_json(plugins):
    runner = CliRunner()
    res = runner.invoke(app, ["plugins", "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    by_name = {(r["group"], r["name"], r["distribution"]): r for r in rows}
    broken = by_name[("hpdesc.descriptors", "broken", "fake-plugin")]
    assert not broken["ok"] and "needs libfoo" in broken["error"]
    assert by_name[("hpdesc.descriptors", "tfeat", "fake-plugin")]["summary"] == "TFeat-like toy descriptor for tests."
    res = runner.invoke(app, ["plugins", "--kind", "descriptor"])
    assert res.exit_code == 0
    assert "broken" in res.stdout and "tfeat" in res.stdout


def test_console_script_sees_plugin(plugins):
    """A separate process (the installed console script's view) discovers the plugin too."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugins), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-m", "hpdesc", "plugins", "--json", "--kind", "denoiser_loss"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "charbonnier" in {r["name"] for r in json.loads(out.stdout)}
