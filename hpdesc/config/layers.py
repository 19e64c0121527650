"""Layering a run's configuration: defaults < ``--config FILE.toml`` < flags < ``--set KEY=VALUE``.

Layers are applied in that order, each over the one before (``--set`` items in the order given),
so ``hpdesc train --denoiser unet --set denoiser.alpha=0.3`` gives ``alpha`` to the U-Net.
Parameters belong to the component they are given for:

* one table (a ``[denoiser]`` section, an inline table) is one component: its ``name`` applies
  before its parameters, whatever their order;
* a parameter given for the component that ends up chosen is always passed to its factory;
* a layer that picks another component replaces the parameters of the previous one. A
  parameter some earlier layer gave for that previous component (a config file, ``--set``, a
  sweep's base) cannot reach any factory, so that is a :class:`~hpdesc.errors.ConfigError`
  naming it, the old and the new component. Only the defaults' own parameters (HardNet's
  ``dropout = 0.1``) go quietly with their component; a saved ``config.toml`` repeats those
  values, and they count as defaults there too;
* an optimizer's ``learning_rate`` is the stage's, not the optimizer's: the plugin contract
  passes one to every optimizer (``build(learning_rate, **params)``) and ``training.lr_scaling``
  scales it, so it stays when another optimizer is picked (default or given; it always takes
  effect and the saved config shows it). ``--descriptor-optimizer sgd --set
  descriptor_optimizer.learning_rate=0.1`` gives SGD its own rate.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, Iterable, Mapping

from hpdesc.config.schema import (COMPONENTS, FIXED_SECTIONS, STAGE_PARAMS, Component, RunConfig, check,
                                  default_layer, defaults, same_component)
from hpdesc.config.toml import TomlLines, parse_set, read_toml
from hpdesc.errors import ConfigError, did_you_mean


def _where(source: str | None, section: str, key: str | None = None) -> str:
    """``FILE:LINE: `` for a key of a config file (best effort), or ``--set: ``."""
    if not source:
        return ""
    if source.startswith("--"):
        return f"{source}: "
    try:
        lines = TomlLines(Path(source).read_text(encoding="utf-8"))
    except OSError:
        return f"{source}: "
    line = (lines.header(section) or lines.key("", section)) if key is None else lines.key(section, key)
    return f"{source}:{line}: " if line else f"{source}: "


def merge(base: dict, layer: Mapping, source: str | None = None) -> dict:
    """Merge one layer (a nested dict as read from TOML) into ``base``, checking names.

    A component table's ``name`` is applied before its parameters; picking another component
    raises ConfigError if an earlier layer gave parameters for the one it replaces (see the
    module docstring).
    """
    out = copy.deepcopy(base)
    for section, body in layer.items():
        if section == "provenance":
            out["provenance"] = copy.deepcopy(body)
            continue
        if section not in FIXED_SECTIONS and section not in COMPONENTS:
            raise ConfigError(f"{_where(source, section)}unknown config section [{section}]",
                              hint=f"sections are {', '.join([*FIXED_SECTIONS, *COMPONENTS])}")
        if section in COMPONENTS and isinstance(body, str):
            _set_name(out, section, body, source)
            continue
        if not isinstance(body, Mapping):
            raise ConfigError(f"{_where(source, section)}[{section}] must be a table")
        if section in COMPONENTS:
            if "name" in body:  # one table is one component: its name first
                _set_name(out, section, body["name"], source)
            for key, value in body.items():
                if key != "name":
                    out[section][key] = value
            continue
        for key, value in body.items():
            _set_key(out, section, key, value, source)
    return out
def given_params(section: str, body: Mapping) -> dict:
    """The parameters of a component table that are not hpdesc's defaults for it.

    The defaults' own parameters (``dropout = 0.1`` of the default HardNet) belong to the
    default component, in the defaults layer and wherever a saved config repeats them;
    everything else was somebody's choice. An optimizer's ``learning_rate`` belongs to the
    stage (:data:`STAGE_PARAMS`) and is never counted.
    """
    default = default_layer()[section]
    params = {k: v for k, v in body.items() if k != "name" and k not in STAGE_PARAMS.get(section, ())}
    if body.get("name") == default["name"]:
        params = {k: v for k, v in params.items()
                  if not (k in default and type(default[k]) is type(v) and default[k] == v)}
    return params


def _set_name(cfg: dict, section: str, name: Any, source: str | None = None) -> None:
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{_where(source, section, 'name')}{section}.name must be a non-empty string, "
                          f"got {name!r}")
    old = cfg[section].get("name")
    if old == name:
        return
    if isinstance(old, str) and same_component(old, name):
        cfg[section]["name"] = name  # another spelling of the same component keeps its parameters
        return
    given = given_params(section, cfg[section])
    keep = {k: v for k, v in cfg[section].items() if k in STAGE_PARAMS.get(section, ())}
    if given:
        keys = [f"{section}.{k}" for k in given]
        what = section.replace("_", " ")
        by = f" ({_by(source, section)})" if source else ""
        raise ConfigError(
            f"{', '.join(keys)} {'was' if len(keys) == 1 else 'were'} set for {old!r}, but the {what} "
            f"is now {name!r}{by}",
            hint=f"parameters belong to the component they are given for: remove "
                 f"{'it' if len(keys) == 1 else 'them'}, or give {'it' if len(keys) == 1 else 'them'} "
                 f"for {name!r} (--set {keys[0]}=VALUE applies to the chosen {what}; in a file or "
                 f"sweep, in the same table as name = {name!r})")
    cfg[section] = {"name": name, **keep}


def _by(source: str, section: str) -> str:
    """Where a component name came from, for messages: ``--denoiser``, ``c.toml:3``, ``--set``."""
    where = _where(source, section, "name")
    return where[:-2] if where.endswith(": ") else source


def _set_key(cfg: dict, section: str, key: str, value: Any, source: str | None) -> None:
    if section in COMPONENTS:
        if key == "name":
            _set_name(cfg, section, value, source)
        else:
            cfg[section][key] = value
        return
    cls = FIXED_SECTIONS[section]
    known = {f.name: f for f in dataclasses.fields(cls)}
    if key not in known:
        raise ConfigError(
            f"{_where(source, section, key)}unknown key {section}.{key}"
            + did_you_mean(key, known, show=lambda k: f"{section}.{k}"),
            hint=f"keys of [{section}]: {', '.join(known)}")
    default = getattr(cls(), key)
    cfg[section][key] = _coerce(f"{section}.{key}", value, default, source, section)


def _coerce(name: str, value: Any, default: Any, source, section) -> Any:
    where = _where(source, section, name.split(".", 1)[1])
    if default is None or section == "data" and name == "data.path":
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ConfigError(f"{where}{name} must be a string (a file path), got {value!r}")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where}{name} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}{name} must be an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}{name} must be a number, got {value!r}")
        return float(value)
    if isinstance(default, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{where}{name} must be a list, got {value!r}")
        return value
    if isinstance(default, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and name.endswith("_ratio"):
            return f"{value}:1"
        if not isinstance(value, str):
            raise ConfigError(f"{where}{name} must be a string, got {value!r}")
        return value
    return value


def apply_sets(cfg: dict, items: Iterable[str]) -> dict:
    """Apply ``--set KEY=VALUE`` items in order."""
    for item in items:
        key, value = parse_set(item)
        section, _, name = key.partition(".")
        if not name:
            if section not in COMPONENTS:
                raise ConfigError(f"--set {item!r}: only a component section can be set as a whole "
                                  f"(e.g. denoiser=dncnn); use {section}.KEY=VALUE")
            cfg = merge(cfg, {section: {"name": value}}, "--set")
        else:
            cfg = merge(cfg, {section: {name: value}}, "--set")
    return cfg


def from_dict(d: Mapping) -> RunConfig:
    """Build and check a RunConfig from a fully merged nested dict."""
    d = merge(defaults(), d)
    kw: dict[str, Any] = {}
    for sec, cls in FIXED_SECTIONS.items():
        kw[sec] = cls(**d[sec])
    for sec in COMPONENTS:
        body = dict(d[sec])
        name = body.pop("name", None)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"[{sec}] needs a component name")
        kw[sec] = Component(name, body)
    cfg = RunConfig(**kw, provenance=dict(d.get("provenance", {})))
    check(cfg)
    return cfg


def resolve(config: RunConfig | Mapping | str | Path | None = None, *,
            sets: Iterable[str] = (), flags: Mapping[str, Any] | None = None) -> RunConfig:
    """Layer defaults < config (file or dict) < explicit flags < ``--set`` items.

    ``flags`` keys are dotted (``training.seed``, ``denoiser.name``) or the CLI shorthands
    ``epochs`` and ``batch_size`` (both stages). ``None`` values are ignored. ``--set`` comes
    last so that its parameters reach the component a flag picked (``--denoiser unet --set
    denoiser.filters=8``); see the module docstring for what happens to the parameters of a
    component that a later layer replaces.
    """
    if isinstance(config, RunConfig):
        cfg = config.to_dict()
    else:
        cfg = defaults()
        if isinstance(config, (str, Path)):
            cfg = merge(cfg, read_toml(config), str(config))
        elif config is not None:
            cfg = merge(cfg, config, "config")
    for key, value in (flags or {}).items():
        if value is None:
            continue
        if key == "epochs":
            cfg = merge(cfg, {"training": {"denoiser_epochs": value, "descriptor_epochs": value}}, "--epochs")
        elif key == "batch_size":
            cfg = merge(cfg, {"training": {"denoiser_batch_size": value, "descriptor_batch_size": value}},
                        "--batch-size")
        else:
            section, _, name = key.partition(".")
            flag = section if section in COMPONENTS and name in ("", "name") else key
            cfg = merge(cfg, {section: {name or "name": value}}, f"--{flag.replace('_', '-')}")
    cfg = apply_sets(cfg, sets)
    return from_dict(cfg)

