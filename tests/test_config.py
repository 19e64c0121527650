"""Run configuration: layering, --set parsing, unknown keys, saved TOML round trip."""

from __future__ import annotations

import re

import pytest

from hpdesc import config as C
from hpdesc.errors import ConfigError
from hpdesc.validate import check_components


def test_defaults_are_the_quick_start():
    cfg = C.resolve()
    assert cfg.denoiser.name == "dncnn" and cfg.descriptor.name == "hardnet"
    assert cfg.data.descriptor_input == "denoised"
    assert cfg.ratio("denoiser") == 3.0 and cfg.ratio("descriptor") == 10.0
    assert cfg.training.precision == "mixed"  # docs/training.md "Measured": bf16 DnCNN is ~1.7x faster


def test_layering_file_then_flags_then_set(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[training]\nseed = 5\ndenoiser_epochs = 7\n[denoiser]\nname = "unet"\nfilters = 8\n')
    cfg = C.resolve(f, sets=["training.seed=6", "denoiser.alpha=0.2"], flags={"training.seed": 9, "epochs": 3})
    assert cfg.training.seed == 6  # --set wins over a flag wins over the file
    assert cfg.training.denoiser_epochs == 3 and cfg.training.descriptor_epochs == 3
    assert cfg.denoiser.name == "unet" and cfg.denoiser.params == {"filters": 8, "alpha": 0.2}
    cfg = C.resolve(f, flags={"training.seed": 9})
    assert cfg.training.seed == 9


@pytest.mark.parametrize("item, key, value", [
    ("denoiser.alpha=0.2", "denoiser.alpha", 0.2),
    ("descriptor_optimizer.learning_rate=0.1", "descriptor_optimizer.learning_rate", 0.1),
    ("denoiser=dncnn", "denoiser", "dncnn"),
    ("training.precision=mixed", "training.precision", "mixed"),
    ('data.split="a"', "data.split", "a"),
    ("benchmark.tasks=['matching']", "benchmark.tasks", ["matching"]),
    ("denoiser.bn=false", "denoiser.bn", False),
])
def test_parse_set(item, key, value):
    assert C.parse_set(item) == (key, value)


def test_set_component_name_both_spellings():
    assert C.resolve(sets=["denoiser=unet"]).denoiser.name == "unet"
    assert C.resolve(sets=["denoiser.name=unet"]).denoiser.name == "unet"
    # changing the name keeps the stage's learning rate...
    cfg = C.resolve(sets=["descriptor_optimizer=sgd"])
    assert cfg.descriptor_optimizer.params == {"learning_rate": 2e-3}
    # ...but a parameter given for the old optimizer cannot silently vanish (test_config_layers.py)
    with pytest.raises(ConfigError, match="descriptor_optimizer.momentum was set for 'adam'"):
        C.resolve(sets=["descriptor_optimizer.momentum=0.5", "descriptor_optimizer=sgd"])


@pytest.mark.parametrize("item", ["nonsense", "=3", "a.b.c=1"])
def test_bad_set_syntax(item):
    with pytest.raises(ConfigError):
        C.resolve(sets=[item])


def test_unknown_keys_are_named():
    with pytest.raises(ConfigError, match="training.epoch"):
        C.resolve(sets=["training.epoch=3"])
    with pytest.raises(ConfigError, match=r"unknown config section \[trainig\]"):
        C.resolve({"trainig": {"seed": 1}})


def test_unknown_key_in_file_names_file_and_line(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[data]\nsplit = 'a'\n\n[training]\nseed = 1\nbatchsize = 4\n")
    with pytest.raises(ConfigError) as e:
        C.resolve(f)
    assert f"{f}:6:" in e.value.message and "training.batchsize" in e.value.message


def test_config_file_errors_find_dotted_and_inline_keys(tmp_path):
    # one TOML line finder (config files and sweep files): [table] key, dotted key, inline table
    for text, line in (('# c\n[training]\nseed = "x"\n', 3), ('# c\n\ntraining.seed = "x"\n', 3),
                       ('# c\ntraining = { prefetch = 2, seed = "x" }\n', 2)):
        p = tmp_path / "c.toml"
        p.write_text(text)
        with pytest.raises(ConfigError, match=rf"^{re.escape(str(p))}:{line}: training.seed must be an integer"):
            C.resolve(p)


def test_toml_lines():
    lines = C.TomlLines('top = 1\n[base]\ndenoiser.depth = 3  # d\n[base.descriptor]\nname = "x"\n'
                        '[[axis]]\nkey = "a"\n[[axis]]\n# key = "b"\nkey = "b"\n')
    assert lines.key("", "top") == 1 and lines.key("base", "denoiser.depth") == 3
    assert lines.key("base.denoiser", "depth") == 3 and lines.key("base.descriptor", "name") == 5
    assert lines.header("base.descriptor") == 4 and lines.header("axis", 1) == 8
    assert lines.key("axis", "key", 1) == 10 and lines.key("axis", "key", 0) == 7
    assert lines.key("base", "nothing") is None and lines.header("data") is None


def test_type_and_value_errors():
    with pytest.raises(ConfigError, match="training.seed must be an integer"):
        C.resolve(sets=["training.seed=abc"])
    with pytest.raises(ConfigError, match="descriptor_input"):
        C.resolve(sets=["data.descriptor_input=blurry"])
    with pytest.raises(ConfigError, match="ratio"):
        C.resolve(sets=["data.denoiser_val_ratio=x:y"])
    with pytest.raises(ConfigError, match="invalid TOML"):
        C.read_toml(__file__)


def test_component_params_validated_by_factory():
    from hpdesc.errors import UsageError

    with pytest.raises(UsageError, match="denoiser 'dncnn'.*rejected"):
        check_components(C.resolve(sets=["denoiser.depht=3"]))
    with pytest.raises(UsageError, match="Did you mean 'hardnet'"):
        check_components(C.resolve(sets=["descriptor=hardnett"]))


def test_saved_toml_round_trip(tmp_path):
    cfg = C.resolve(sets=["denoiser.depth=3", "training.seed=4", "benchmark.baselines=[]",
                          "data.path='/x/y.h5'"])
    cfg.provenance = check_components(cfg)
    p = cfg.save(tmp_path / "config.toml")
    again = C.resolve(p)
    assert again.to_dict() == cfg.to_dict()
    assert again.provenance["denoiser"]["distribution"] == "hpdesc"
