"""Config layering of component parameters: defaults < file < flags < --set, nothing dropped silently.

Parameters belong to the component they were given for. The parameters of the component that
ends up chosen are always kept; a parameter the user gave (file, flag layer, ``--set``) for a
component that a later layer replaced is an error naming it; a parameter that came from the
defaults (HardNet's dropout) goes quietly with its component. An optimizer's learning rate is
the stage's (the contract passes one to every optimizer): it stays.
"""

from __future__ import annotations

import pytest

from hpdesc import api
from hpdesc import config as C
from hpdesc.errors import ConfigError
from hpdesc.validate import check_components

# (section, flag keyword of api.resolve_config, a non-default component, a parameter for it)
KINDS = [
    ("denoiser", "denoiser", "unet", ("activation", "leaky_relu")),
    ("descriptor", "descriptor", "resnet50", ("hidden", 64)),
    ("denoiser_loss", "denoiser_loss", "mae", ("weight", 2.0)),
    ("descriptor_loss", "descriptor_loss", "triplet", ("margin", 0.5)),
    ("denoiser_optimizer", "denoiser_optimizer", "sgd", ("momentum", 0.5)),
    ("descriptor_optimizer", "descriptor_optimizer", "sgd", ("momentum", 0.5)),
]
IDS = [k[0] for k in KINDS]


def _lr(section):
    """What stays of a section's defaults across a change of component: an optimizer's learning rate."""
    return {k: v for k, v in C.defaults()[section].items() if k in C.STAGE_PARAMS.get(section, ())}


def test_issue_example_keeps_set_parameters_for_the_flag_component():
    cfg = api.resolve_config(denoiser="unet", sets=["denoiser.activation=leaky_relu", "denoiser.alpha=0.3"])
    assert cfg.denoiser == C.Component("unet", {"activation": "leaky_relu", "alpha": 0.3})


@pytest.mark.parametrize("section, flag, name, param", KINDS, ids=IDS)
def test_set_applies_to_the_component_a_flag_picked(section, flag, name, param):
    key, value = param
    cfg = api.resolve_config(sets=[f"{section}.{key}={value!r}".replace("'", '"')], **{flag: name})
    comp = cfg.component(section)
    assert comp.name == name
    assert comp.params == {key: value, **_lr(section)}  # defaults of the default component went quietly


@pytest.mark.parametrize("section, flag, name, param", KINDS, ids=IDS)
def test_file_parameter_for_a_replaced_component_is_an_error(section, flag, name, param, tmp_path):
    default = C.defaults()[section]["name"]
    f = tmp_path / "c.toml"
    f.write_text(f'[{section}]\nname = "{default}"\nsome_param = 3\n')
    with pytest.raises(ConfigError) as e:
        api.resolve_config(f, **{flag: name})
    msg = e.value.message
    assert f"{section}.some_param" in msg and repr(default) in msg and repr(name) in msg
    # without the name in the file the parameter still belonged to the default component
    f.write_text(f"[{section}]\nsome_param = 3\n")
    with pytest.raises(ConfigError, match=rf"{section}\.some_param"):
        api.resolve_config(f, **{flag: name})


@pytest.mark.parametrize("section, flag, name, param", KINDS, ids=IDS)
def test_set_parameter_then_set_name_is_an_error(section, flag, name, param):
    with pytest.raises(ConfigError, match=rf"{section}\.some_param was set for"):
        C.resolve(sets=[f"{section}.some_param=3", f"{section}={name}"])
    # the other order is fine: the parameter is given for the chosen component
    cfg = C.resolve(sets=[f"{section}={name}", f"{section}.some_param=3"])
    assert cfg.component(section).params == {"some_param": 3, **_lr(section)}


@pytest.mark.parametrize("section, flag, name, param", KINDS, ids=IDS)
def test_file_parameters_of_the_chosen_component_are_kept(section, flag, name, param, tmp_path):
    key, value = param
    f = tmp_path / "c.toml"
    # the name after the parameter in the same table: one table is one component
    f.write_text(f"[{section}]\n{key} = {value!r}\nname = \"{name}\"\n".replace("'", '"'))
    cfg = C.resolve(f, flags={f"{section}.name": name}, sets=[f"{section}.extra=1"])
    assert cfg.component(section) == C.Component(name, {**_lr(section), key: value, "extra": 1})


def test_defaults_go_quietly_with_their_component():
    cfg = api.resolve_config(descriptor="resnet50", denoiser_optimizer="sgd", descriptor_optimizer="adadelta")
    assert cfg.descriptor.params == {}  # hardnet's default dropout is not passed to resnet50
    # the stage's learning rate stays: every optimizer is passed one (plugin contract)
    assert cfg.denoiser_optimizer.params == {"learning_rate": 1e-3}
    assert cfg.descriptor_optimizer.params == {"learning_rate": 2e-3}


def test_a_learning_rate_is_the_stage_s_and_follows_a_new_optimizer(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[descriptor_optimizer]\nname = "adam"\nlearning_rate = 0.01\n')
    cfg = api.resolve_config(f, descriptor_optimizer="sgd")
    assert cfg.descriptor_optimizer == C.Component("sgd", {"learning_rate": 0.01})
    cfg = C.resolve(sets=["descriptor_optimizer.learning_rate=0.01", "descriptor_optimizer=sgd"])
    assert cfg.descriptor_optimizer == C.Component("sgd", {"learning_rate": 0.01})
    # other optimizer parameters do not
    with pytest.raises(ConfigError, match=r"descriptor_optimizer\.beta_1 was set for 'adam'"):
        C.resolve(sets=["descriptor_optimizer.beta_1=0.5", "descriptor_optimizer=sgd"])


def test_a_saved_config_can_switch_components(tmp_path):
    # a saved config.toml is fully resolved: it holds the defaults, which are no user's choice
    p = C.resolve().save(tmp_path / "config.toml")
    cfg = api.resolve_config(p, descriptor="resnet50", descriptor_optimizer="sgd")
    assert cfg.descriptor.params == {} and cfg.descriptor_optimizer.params == {"learning_rate": 2e-3}
    # but what a saved run chose for its own component is a choice
    p = C.resolve(sets=["descriptor.dropout=0.3"]).save(tmp_path / "config2.toml")
    with pytest.raises(ConfigError, match=r"descriptor\.dropout was set for 'hardnet'.*'resnet50'"):
        api.resolve_config(p, descriptor="resnet50")
    # a saved run reloads as it was
    saved = C.resolve(sets=["descriptor=resnet50", "descriptor.hidden=0", "denoiser_optimizer=sgd"])
    again = C.resolve(saved.save(tmp_path / "config3.toml"))
    assert again.to_dict() == saved.to_dict()


def test_same_name_keeps_parameters_and_qualified_spelling_is_the_same_component():
    cfg = C.resolve(sets=["denoiser.depth=5"], flags={"denoiser.name": "dncnn"})
    assert cfg.denoiser == C.Component("dncnn", {"depth": 5})
    cfg = C.resolve(sets=["denoiser.depth=5", "denoiser=hpdesc:dncnn"])
    assert cfg.denoiser == C.Component("hpdesc:dncnn", {"depth": 5})


def test_skip_denoiser_with_denoiser_parameters_is_an_error(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[denoiser]\nname = "dncnn"\ndepth = 4\n')
    with pytest.raises(ConfigError, match=r"denoiser\.depth was set for 'dncnn'.*'identity'"):
        api.resolve_config(f, skip_denoiser=True)


def test_flags_then_set_for_fixed_sections():
    cfg = C.resolve(sets=["training.seed=6"], flags={"training.seed": 9, "epochs": 3})
    assert cfg.training.seed == 6  # --set is the last layer
    assert cfg.training.denoiser_epochs == 3


def test_descriptor_none_with_descriptor_settings_is_an_error():
    from hpdesc.errors import UsageError

    with pytest.raises(UsageError, match=r"descriptor\.filters.*'none'"):
        check_components(api.resolve_config(descriptor="none", sets=["descriptor.filters=8"]))
    with pytest.raises(UsageError, match=r"descriptor_loss.*no descriptor"):
        check_components(api.resolve_config(denoiser="identity", descriptor="none",
                                               descriptor_loss="triplet"))
    with pytest.raises(UsageError, match=r"descriptor_optimizer\.learning_rate cannot take effect"):
        check_components(api.resolve_config(descriptor="none",
                                               sets=["descriptor_optimizer.learning_rate=0.1"]))
