"""Sweep files: structure, and bad files rejected (file, line, key named) before anything runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hpdesc import config as C
from hpdesc.errors import ConfigError
from hpdesc.experiments.names import short_key
from hpdesc.experiments.sweepfile import load_sweep, parse_sweep

GOOD = """\
title = "lr"
mode = "greedy"
metric = "val_loss_denoiser"
out = "{out}"

[base]
descriptor = "none"

[base.training]
denoiser_epochs = 1

[base.denoiser]
name = "dncnn"

[[axis]]
key = "denoiser_optimizer.learning_rate"
values = [0.01, 0.001]

[[axis]]
key = "denoiser"
values = [{{ name = "dncnn", depth = 3, filters = 8 }}, {{ name = "unet", filters = 4 }}]
labels = ["dncnn", "unet"]
"""


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def line_of(path: Path, needle: str) -> int:
    return next(n for n, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln)


def test_good_file_parses(tmp_path):
    p = write(tmp_path, GOOD.format(out=tmp_path / "out"))
    spec = load_sweep(p)
    assert spec.mode == "greedy" and spec.metric == "val_loss_denoiser" and spec.lower_is_better
    assert [a.key for a in spec.axes] == ["denoiser_optimizer.learning_rate", "denoiser"]
    assert spec.axes[0].labels == ["0.01", "0.001"] and spec.axes[1].labels == ["dncnn", "unet"]
    cfg = spec.config({0: 0, 1: 1})
    assert cfg.denoiser.name == "unet" and cfg.denoiser.params == {"filters": 4}
    assert cfg.denoiser_optimizer.params["learning_rate"] == 0.01 and not cfg.trains_descriptor
    assert cfg.training.denoiser_epochs == 1
    assert short_key("denoiser_optimizer.learning_rate") == "dopt.lr"


@pytest.mark.parametrize("bad, needle, words", [
    # unknown key in the base config
    ("[base.training]\ndenoiser_epochs = 1\nepoch = 2\n", "epoch = 2", ["unknown key training.epoch"]),
    # dotted form inside [base]
    ("[base]\ntraining.denoiser_epoch = 2\n", "training.denoiser_epoch", ["training.denoiser_epoch",
                                                                          "Did you mean"]),
    # wrong value type
    ("[base.training]\ndenoiser_epochs = \"three\"\n", "denoiser_epochs", ["training.denoiser_epochs",
                                                                          "must be an integer"]),
    # unknown component in the base
    ("[base.denoiser]\nname = \"dncn\"\n", "dncn", ["denoiser", "unknown denoiser 'dncn'"]),
    # unknown component among an axis' values
    ("[[axis]]\nkey = \"descriptor\"\nvalues = [\"hardnet\", \"hardnett\"]\n", "values", ["descriptor = hardnett",
                                                                                      "Did you mean 'hardnet'"]),
    # a value of the wrong type on an axis
    ("[[axis]]\nkey = \"training.denoiser_batch_size\"\nvalues = [16, \"big\"]\n", "values",
     ["training.denoiser_batch_size", "must be an integer"]),
    # a parameter the component rejects
    ("[[axis]]\nkey = \"denoiser.depht\"\nvalues = [3]\n", "values", ["denoiser.depht", "rejected its parameters"]),
    # unknown top-level and axis keys, unknown metric
    ("modes = \"grid\"\n", "modes", ["unknown sweep key 'modes'", "Did you mean 'mode'"]),
    ("[[axis]]\nkey = \"denoiser.alpha\"\nvalue = [0.1]\n", "value = [0.1]", ["unknown key 'value'"]),
    ("metric = \"totl\"\n", "metric", ["unknown metric 'totl'"]),
    ("[[axis]]\nkey = \"trainin.seed\"\nvalues = [1]\n", "key =", ["unknown config section 'trainin'"]),
])
def test_bad_files_name_line_and_key(tmp_path, bad, needle, words):
    p = write(tmp_path, "# a sweep\n" + bad)
    with pytest.raises(ConfigError) as info:
        load_sweep(p)
    msg = info.value.message
    assert msg.startswith(f"{p}:{line_of(p, needle)}: "), msg
    for w in words:
        assert w in msg, msg


def test_every_combination_is_checked(tmp_path):
    # each value is fine on its own; the pair (unet, depth) is not: unet has no 'depth'
    p = write(tmp_path, """\
        [[axis]]
        key = "denoiser"
        values = ["dncnn", "unet"]

        [[axis]]
        key = "denoiser.depth"
        values = [3]
        """)
    with pytest.raises(ConfigError, match="rejected its parameters") as info:
        load_sweep(p)
    assert "denoiser.depth = 3" in info.value.message or "denoiser = unet" in info.value.message


def test_syntax_error_names_line(tmp_path):
    p = write(tmp_path, "mode = \"grid\"\n[[axis]\nkey = 1\n")
    with pytest.raises(ConfigError, match=r"sweep.toml:2:.*invalid TOML"):
        load_sweep(p)


def test_duplicate_labels_and_axes(tmp_path):
    with pytest.raises(ConfigError, match="repeated value"):
        parse_sweep("[[axis]]\nkey = \"denoiser.alpha\"\nvalues = [0.1, 0.1]\n")
    with pytest.raises(ConfigError, match="swept twice"):
        parse_sweep("[[axis]]\nkey = \"training.seed\"\nvalues = [1]\n[[axis]]\nkey = \"training.seed\"\nvalues = [2]\n")


def test_cli_rejects_bad_file_before_running(tmp_path):
    from hpdesc.cli.main import app

    out = tmp_path / "out"
    p = write(tmp_path, f"out = \"{out}\"\n[base.training]\ndenoiser_epochs = 1.5\n")
    res = CliRunner().invoke(app, ["sweep", str(p)])
    assert res.exit_code == 2, res.output
    assert "sweep.toml:3:" in res.output and "training.denoiser_epochs" in res.output
    assert "Traceback" not in res.output
    assert not out.exists()  # nothing was run, not even the sweep directory created


def test_example_files_are_valid():
    files = sorted((Path(__file__).parents[2] / "examples" / "report").glob("*.toml"))
    assert len(files) >= 10
    for f in files:  # structure and config checks (components are built by the dry-run in the docs)
        spec = load_sweep(f, validate_components=False)
        assert spec.title and spec.out.parts[0] == "sweeps"
        assert "hpdesc sweep examples/report/" + f.name in f.read_text()


# -- component parameters across layers (base < --set < axes) ------------------------------------
SECTIONS = [("denoiser", "unet", "filters", 4), ("descriptor", "resnet50", "hidden", 0),
            ("denoiser_loss", "mae", "weight", 2), ("descriptor_loss", "triplet", "margin", 0.5),
            ("denoiser_optimizer", "sgd", "momentum", 0.5), ("descriptor_optimizer", "sgd", "momentum", 0.5)]


@pytest.mark.parametrize("section, name, key, value", SECTIONS, ids=[s[0] for s in SECTIONS])
def test_base_parameter_for_a_component_an_axis_replaces_is_an_error(tmp_path, section, name, key, value):
    p = write(tmp_path, f"""\
        [base.{section}]
        some_param = 1

        [[axis]]
        key = "{section}"
        values = ["{name}"]
        """)
    with pytest.raises(ConfigError) as info:
        load_sweep(p, validate_components=False)
    msg = info.value.message
    assert msg.startswith(f"{p}:{line_of(p, 'values')}: axis 1 ({section} = {name})"), msg
    assert f"{section}.some_param was set for" in msg and f"is now {name!r}" in msg


@pytest.mark.parametrize("section, name, key, value", SECTIONS, ids=[s[0] for s in SECTIONS])
def test_set_parameter_for_a_component_an_axis_replaces_is_an_error(tmp_path, section, name, key, value):
    p = write(tmp_path, f"""\
        [[axis]]
        key = "{section}"
        values = ["{name}"]
        """)
    with pytest.raises(ConfigError, match=rf"{section}\.{key} was set for .* is now '{name}'"):
        load_sweep(p, sets=[f"{section}.{key}={value}"], validate_components=False)


@pytest.mark.parametrize("section, name, key, value", SECTIONS, ids=[s[0] for s in SECTIONS])
def test_axis_parameters_reach_the_axis_component_whatever_the_axis_order(tmp_path, section, name, key, value):
    p = write(tmp_path, f"""\
        [[axis]]
        key = "{section}.{key}"
        values = [{value}]

        [[axis]]
        key = "{section}"
        values = [{{ {key} = {value}, name = "{name}" }}, "{name}"]
        labels = ["a", "b"]
        """)
    spec = load_sweep(p, validate_components=False)
    lr = {k: v for k, v in C.defaults()[section].items() if k in C.STAGE_PARAMS.get(section, ())}
    for i in (0, 1):
        assert spec.config({0: 0, 1: i}).component(section) == C.Component(name, {**lr, key: value})


def test_documented_scale_up_of_table1_does_not_vanish():
    # the header of table1-denoisers.toml once suggested --set denoiser.depth=17: the axis
    # replaces the denoiser, so that setting reached no run
    f = Path(__file__).parents[2] / "examples" / "report" / "table1-denoisers.toml"
    with pytest.raises(ConfigError, match=r"denoiser\.depth was set for 'dncnn'.*is now 'unet'"):
        load_sweep(f, sets=["denoiser.depth=17"], validate_components=False)


def test_base_table_name_after_its_parameters(tmp_path):
    p = write(tmp_path, """\
        [base.denoiser]
        filters = 4
        name = "unet"

        [[axis]]
        key = "training.seed"
        values = [1, 2]
        """)
    spec = load_sweep(p, validate_components=False)
    assert spec.config({0: 0}).denoiser == C.Component("unet", {"filters": 4})


def test_descriptor_stage_axis_without_a_descriptor_is_an_error(tmp_path):
    p = write(tmp_path, """\
        [base]
        descriptor = "none"

        [[axis]]
        key = "descriptor_loss"
        values = ["hardnet", "triplet"]
        """)
    with pytest.raises(ConfigError, match=r"descriptor_loss = 'triplet' cannot take effect"):
        load_sweep(p, validate_components=False)


def test_sweeps_run_the_component_checks_of_train(tmp_path, monkeypatch):
    # one function checks components for `hpdesc train` and for every combination of a sweep
    from hpdesc import validate

    seen = []

    def spy(cfg, **kw):
        seen.append((cfg.denoiser.name, cfg.denoiser_optimizer.params["learning_rate"]))
        return {}

    monkeypatch.setattr(validate, "check_components", spy)
    load_sweep(write(tmp_path, GOOD.format(out=tmp_path / "out")))
    assert sorted(seen) == [("dncnn", 0.001), ("dncnn", 0.01), ("unet", 0.001), ("unet", 0.01)]


def test_sweep_checks_the_descriptor_loss_at_the_descriptor_width(tmp_path, monkeypatch):
    from hpdesc import validate

    widths = []
    check = validate.check

    def spy(entry, obj, input_shape=(32, 32, 1), dim=128):
        if entry.kind == "descriptor_loss":
            widths.append(dim)
        return check(entry, obj, input_shape=input_shape, dim=dim)

    monkeypatch.setattr(validate, "check", spy)
    p = write(tmp_path, """\
        [base]
        denoiser = "identity"
        descriptor = { name = "raw", size = 4 }
        """)
    with pytest.raises(ConfigError, match="raw is not trainable"):
        load_sweep(p)
    p = write(tmp_path, """\
        [base]
        denoiser = "identity"
        descriptor = { name = "hardnet", filters = 4, dim = 64 }
        """)
    load_sweep(p)
    assert widths == [64]


def test_grid_expands_every_combination_once():
    # the one grid expansion behind validation, planning (Sweep.plan_grid) and `hpdesc sweep --dry-run`
    spec = parse_sweep(GOOD.format(out="o"))
    assert spec.grid_size == 4
    assert list(spec.grid()) == [{0: 0, 1: 0}, {0: 0, 1: 1}, {0: 1, 1: 0}, {0: 1, 1: 1}]
    assert list(parse_sweep("").grid()) == [{}] and parse_sweep("").grid_size == 1


def test_plan_grid_plans_the_spec_grid(tmp_path, monkeypatch):
    from hpdesc.experiments.sweep import Sweep

    spec = parse_sweep(GOOD.format(out=tmp_path / "out"))
    monkeypatch.setattr(type(spec), "grid", lambda self: iter([{0: 1, 1: 0}]))
    sweep = Sweep(spec)
    monkeypatch.setattr(sweep, "data_path", lambda: str(tmp_path / "d.h5"))
    assert [p.choice for p in sweep.plan_grid()] == [{0: 1, 1: 0}]


def test_cli_dry_run_lists_the_grid(tmp_path):
    from hpdesc.cli.main import app
    from hpdesc.experiments.sweep import run_name

    p = write(tmp_path, GOOD.format(out=tmp_path / "out").replace('mode = "greedy"', 'mode = "grid"'))
    res = CliRunner().invoke(app, ["sweep", str(p), "--dry-run"])
    assert res.exit_code == 0, res.output
    spec = load_sweep(p, validate_components=False)
    assert "4 runs at most" in res.output
    names = [run_name(spec, c) for c in ({0: 0, 1: 0}, {0: 0, 1: 1}, {0: 1, 1: 0}, {0: 1, 1: 1})]
    assert [ln.strip() for ln in res.output.splitlines() if ln.strip() in names] == names
    assert not (tmp_path / "out").exists()


def test_cli_prints_titles_paths_and_labels_verbatim(tmp_path):
    # rich markup would read "[b]" or "[alpha]" as a style tag and drop it
    from hpdesc.cli.main import app

    text = GOOD.format(out=tmp_path / "out[b]").replace('title = "lr"', 'title = "lr [alpha]"')
    text = text.replace('labels = ["dncnn", "unet"]', 'labels = ["dncnn[x]", "unet"]')
    res = CliRunner().invoke(app, ["sweep", str(write(tmp_path, text)), "--dry-run"], terminal_width=300)
    assert res.exit_code == 0, res.output
    assert "lr [alpha]" in res.output and "out[b]" in res.output and "dncnn[x]" in res.output
