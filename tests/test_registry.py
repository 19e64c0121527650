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


# -- who is to blame for an error while building (issue 13 item 7) ---------------------------------
FACTORIES = '''
"""Fake factories that fail in different ways."""

from hpdesc.errors import ParameterError

calls = []


def strict(input_shape=(32, 32, 1), width=4):
    """Checks its parameter the documented way."""
    calls.append(width)
    if width < 1:
        raise ParameterError(f"parameter 'width' must be >= 1, got {width}")
    return ("strict", width)


def uses_checks(input_shape=(32, 32, 1), rate=0.5):
    """Uses hpdesc's own parameter checks."""
    from hpdesc.models.layers import check_float

    return check_float("rate", rate, minimum=0.0, maximum=1.0)


def buggy_value(input_shape=(32, 32, 1), width=4):
    """A bug inside: a ValueError that has nothing to do with the user's parameters."""
    raise ValueError("operands could not be broadcast together")


def buggy_type(input_shape=(32, 32, 1), width=4):
    """A bug inside: a wrong internal call."""
    return len(width)


def flexible(input_shape=(32, 32, 1), **kwargs):
    """Takes any keyword (timm style)."""
    return ("flexible", kwargs)
'''


@pytest.fixture()
def failing(tmp_path, monkeypatch):
    root = tmp_path / "site"
    make_dist(root, "fail-plugin", "0.3.0",
              {"hpdesc.denoisers": {n: f"fakeplug_fail:{n}" for n in
                                    ("strict", "uses_checks", "buggy_value", "buggy_type", "flexible")}},
              {"fakeplug_fail": FACTORIES})
    activate(root, monkeypatch)
    yield sys.modules
    registry.refresh()


def test_unknown_parameter_is_caught_before_the_factory_runs(failing):
    with pytest.raises(UsageError) as info:
        registry.build("denoiser", "strict", input_shape=(32, 32, 1), widht=3)
    err = info.value
    assert not isinstance(err, PluginError) and err.exit_code == 2
    assert "'strict'" in err.message and "rejected its parameters" in err.message and "widht" in err.message
    assert err.hint == "parameters it accepts: input_shape, width"
    assert failing["fakeplug_fail"].calls == []  # the call was checked against the signature first
    with pytest.raises(UsageError, match="rejected its parameters.*too many positional"):
        registry.build("denoiser", "strict", (32, 32, 1), 3, 4)


def test_parameter_error_inside_the_factory_is_the_users(failing):
    with pytest.raises(UsageError) as info:
        registry.build("denoiser", "strict", input_shape=(32, 32, 1), width=0)
    err = info.value
    assert not isinstance(err, PluginError) and err.exit_code == 2
    assert "'strict'" in err.message and "fail-plugin" in err.message
    assert "rejected its parameters" in err.message and "parameter 'width' must be >= 1, got 0" in err.message
    assert "width" in err.hint
    # hpdesc's own checks (hpdesc.models.layers.check_*) raise the same type
    with pytest.raises(UsageError, match="parameter 'rate' must be <= 1.0") as info:
        registry.build("denoiser", "uses_checks", rate=2.0)
    assert not isinstance(info.value, PluginError)


@pytest.mark.parametrize("name,raised", [("buggy_value", "ValueError: operands could not be broadcast"),
                                         ("buggy_type", "TypeError: object of type 'int' has no len()")])
def test_error_inside_the_factory_is_the_plugins(failing, name, raised):
    with pytest.raises(PluginError) as info:
        registry.build("denoiser", name, input_shape=(32, 32, 1), width=2)
    err = info.value
    assert not isinstance(err, UsageError) and err.exit_code == 1
    assert "rejected" not in err.message
    assert f"denoiser '{name}' from fail-plugin 0.3.0" in err.message and "failed while building" in err.message
    assert raised in err.message and "width=2" in err.message
    assert "fail-plugin" in err.hint and "report" in err.hint


def test_factory_with_kwargs_accepts_anything(failing):
    assert registry.build("denoiser", "flexible", anything=1) == ("flexible", {"anything": 1})


@pytest.mark.parametrize("kind,name,params,needle", [
    ("optimizer", "adam", {"learning_rate": -1.0}, "parameter 'learning_rate'"),
    ("optimizer", "adam", {"learning_rate": 0.0}, "parameter 'learning_rate' must be > 0"),
    ("optimizer", "sgd", {"learning_rate": 0.1, "clipnorm": 1.0, "global_clipnorm": 1.0}, "'clipnorm'"),
    ("optimizer", "sgd", {"learning_rate": 0.1, "momentum": 1.5}, "parameter 'momentum'"),
    ("denoiser", "dncnn", {"input_shape": (32, 32, 1), "depth": 0}, "parameter 'depth'"),
    ("denoiser", "dncnn", {"input_shape": (32, 32, 1), "activation": "tanh"}, "parameter 'activation'"),
    ("denoiser", "dncnn", {"input_shape": (32, 32, 1), "init": "nope"}, "parameter 'init'"),
    ("denoiser", "dncnn", {"input_shape": (32, 32, 1), "final_init": "nope"}, "parameter 'final_init'"),
    ("descriptor", "raw", {"input_shape": (32, 32, 1), "size": 5}, "parameter 'size'"),
    ("descriptor", "sift", {"input_shape": (32, 32, 3)}, "parameter 'input_shape'"),
    ("descriptor_loss", "triplet", {"margin": -1.0}, "parameter 'margin'"),
    ("descriptor_loss", "triplet", {"reduction": "x"}, "parameter 'reduction'"),
])
def test_builtin_bad_values_are_user_errors(kind, name, params, needle):
    with pytest.raises(UsageError) as info:
        registry.build(kind, name, **params)
    assert not isinstance(info.value, PluginError) and info.value.exit_code == 2
    assert "rejected its parameters" in info.value.message and needle in info.value.message


@pytest.mark.parametrize("kind,name,params,needle", [
    ("denoiser", "ffdnet", {"input_shape": (32, 32, 1), "sigma": "x"}, "parameter 'sigma'"),
    ("denoiser_loss", "ssim", {"window": 4}, "parameter 'window'"),
    ("denoiser_loss", "ms_ssim", {"scales": 9}, "parameter 'scales'"),
])
def test_plugin_bad_values_are_user_errors(kind, name, params, needle):
    """The example plugin raises ParameterError for bad values, like hpdesc's own checks."""
    if name not in registry.names(kind):
        pytest.skip(f"{name} is not installed")
    with pytest.raises(UsageError) as info:
        registry.build(kind, name, **params)
    assert not isinstance(info.value, PluginError) and info.value.exit_code == 2
    assert needle in info.value.message


def test_an_ambiguous_baseline_name_is_the_registrys_error(plugins):
    """A baseline name two distributions declare lists both spellings (not "neither a descriptor nor a denoiser")."""
    from hpdesc import config as C
    from hpdesc.training.bench import check_baselines

    cfg = C.resolve(None)
    cfg.benchmark.baselines = ["hardnet"]
    with pytest.raises(UsageError, match="declared by several distributions") as info:
        check_baselines(cfg)
    assert "fake-plugin:hardnet" in info.value.hint
    cfg.benchmark.baselines = ["nlmeanz"]
    with pytest.raises(UsageError, match="neither a descriptor nor a denoiser"):
        check_baselines(cfg)
