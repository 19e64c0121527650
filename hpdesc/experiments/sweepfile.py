"""Sweep files: a base run configuration plus axes to vary, checked completely before any run.

Format (TOML)::

    title = "Table 1: denoiser architectures"
    mode = "grid"                 # or "greedy": fix the best value of each axis in turn
    metric = "total"              # what "best" means (greedy; also highlighted by compare)
    out = "sweeps/table1"         # the sweep directory (relative to the working directory)

    [base]                        # a run configuration, same shape as hpdesc train --config
    training.denoiser_epochs = 3
    [base.descriptor]
    name = "hardnet"
    filters = 8

    [[axis]]
    key = "denoiser"              # a component section: values are names or tables
    values = ["dncnn", { name = "unet", filters = 8 }]
    labels = ["dncnn", "unet"]    # optional: names used in run names and tables

    [[axis]]
    key = "denoiser_optimizer.learning_rate"   # SECTION.KEY: values are plain values
    values = [0.1, 0.01]

A run's configuration is layered like ``hpdesc train``'s: defaults < ``[base]`` < ``--set``
items < the run's axis values. The axes are one layer: axes that pick a component (``key =
"denoiser"``) apply before parameter axes (``key = "denoiser.filters"``), so a parameter axis
reaches whichever component was chosen, and a table value (``{ name = "unet", filters = 8 }``)
is one component. A parameter given in ``[base]`` or by ``--set`` for a component that an axis
then replaces reaches no factory in that run, so it is an error naming the parameter, the axis
value and the line, never silently dropped: give it in the axis value's table instead.

Every expanded configuration is resolved with :mod:`hpdesc.config` (names, types, value checks)
and every distinct component is built once through the registry before a run starts; errors
name the file, the line and the key.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from hpdesc import config as C
from hpdesc.errors import ConfigError, HpdescError
from hpdesc.errors import did_you_mean
from hpdesc.experiments.names import fmt_value

if sys.version_info >= (3, 11):  # pragma: no cover - version dependent
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MODES = ("grid", "greedy")
# metric -> which direction is better
METRICS: dict[str, str] = {
    "total": "max", "verification": "max", "matching": "max", "retrieval": "max", "psnr": "max",
    "psnr_e": "max", "psnr_h": "max", "psnr_t": "max",
    "val_loss_denoiser": "min", "val_loss_descriptor": "min",
    "loss_denoiser": "min", "loss_descriptor": "min",
}
TOP_KEYS = ("title", "description", "mode", "metric", "out", "base", "axis")
AXIS_KEYS = ("key", "values", "labels")
# how many combinations are validated one by one (beyond this, each axis value is checked alone)
MAX_VALIDATED = 4096

@dataclass
class Axis:
    """One swept setting: ``key`` (``SECTION`` or ``SECTION.KEY``) and its values."""

    key: str
    values: list
    labels: list[str]
    index: int = 0
    line: int | None = None

    @property
    def section(self) -> str:
        return self.key.partition(".")[0]

    @property
    def picks_component(self) -> bool:
        """Whether the axis sets a component's name (``denoiser``, ``denoiser.name``)."""
        section, _, name = self.key.partition(".")
        return section in C.COMPONENTS and name in ("", "name")

    def layer(self, i: int) -> dict:
        """The config layer (nested dict) that sets value ``i`` (a table: one component)."""
        section, _, name = self.key.partition(".")
        value = copy.deepcopy(self.values[i])
        if name:
            return {section: {name: value}}
        if isinstance(value, Mapping):
            return {section: dict(value)}
        return {section: {"name": value}}

    def to_dict(self) -> dict:
        return {"key": self.key, "values": copy.deepcopy(self.values), "labels": list(self.labels)}


@dataclass
class SweepSpec:
    """A parsed sweep file (see the module docstring for the format)."""

    path: Path | None
    base: dict
    axes: list[Axis]
    mode: str = "grid"
    metric: str = "total"
    out: Path = Path("sweeps/sweep")
    title: str = ""
    description: str = ""
    sets: list[str] = field(default_factory=list)
    text: str = ""

    def source(self) -> str:
        return str(self.path) if self.path is not None else "<sweep>"

    def base_dict(self) -> dict:
        """Defaults < ``[base]`` < ``--set`` items, as a nested dict (not yet checked)."""
        cfg = C.merge(C.defaults(), self.base)
        return C.apply_sets(cfg, self.sets)

    def config_dict(self, choice: Mapping[int, int]) -> dict:
        """The nested config dict of the run that takes value ``choice[a]`` of axis ``a``.

        The axes are one layer over the base: axes that pick a component apply first, so a
        parameter axis (``denoiser.filters``) reaches the component a component axis chose
        whatever their order in the file.
        """
        cfg = self.base_dict()
        for a in sorted(choice, key=lambda a: (not self.axes[a].picks_component, a)):
            cfg = C.merge(cfg, self.axes[a].layer(choice[a]))
        return cfg

    def config(self, choice: Mapping[int, int]) -> C.RunConfig:
        return C.from_dict(self.config_dict(choice))

    @property
    def grid_size(self) -> int:
        """How many runs the full grid has (1 without axes: the base alone)."""
        return math.prod(len(a.values) for a in self.axes)

    def grid(self) -> Iterator[dict[int, int]]:
        """Every combination of the axes' values as a choice ``{axis: value index}``, last axis fastest.

        The one grid expansion (validation, planning, ``--dry-run``); without axes, the base's ``{}``.
        """
        for combo in itertools.product(*[range(len(a.values)) for a in self.axes]):
            yield dict(enumerate(combo))

    @property
    def lower_is_better(self) -> bool:
        return METRICS.get(self.metric, "max") == "min"


# -- locating keys in the file text (hpdesc.config.TomlLines) ---------------------------------------
def _axis_line(loc: C.TomlLines, index: int, key: str | None = None) -> int | None:
    """The line of ``key`` in the ``index``-th ``[[axis]]`` table, else of its header."""
    return (loc.key("axis", key, index) if key is not None else None) or loc.header("axis", index)


def _base_line(loc: C.TomlLines, section: str, key: str | None = None) -> int | None:
    """The line of ``section.key`` in ``[base]`` (any TOML form), else of the section, else of ``[base]``."""
    sec = re.escape(section)
    return ((loc.key(f"base.{section}", key) if key else None) or loc.header(f"base.{section}")
            or loc.find(lambda n, s: loc.tables[n][0] == "base" and re.match(rf"{sec}\b", s))
            or loc.header("base"))


def _where(spec_or_path, line: int | None) -> str:
    src = spec_or_path.source() if isinstance(spec_or_path, SweepSpec) else str(spec_or_path)
    return f"{src}:{line}: " if line else f"{src}: "


def _reraise(where: str, what: str, exc: HpdescError):
    msg = exc.message
    raise ConfigError(f"{where}{what}: {msg}", hint=exc.hint) from None


# -- parsing -------------------------------------------------------------------------------------------
def parse_sweep(text: str, path: str | Path | None = None, *, sets: Iterable[str] = (),
                out: str | Path | None = None) -> SweepSpec:
    """Parse and check the structure of a sweep file's text (no config validation yet)."""
    src = str(path) if path is not None else "<sweep>"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"{src}:{m.group(1) + ':' if m else ''} invalid TOML: {exc}") from None
    loc = C.TomlLines(text)
    for key in raw:
        if key not in TOP_KEYS:
            line = loc.key("", key) or loc.find(lambda n, s: re.match(rf"\[\[?\s*{re.escape(key)}\b", s))
            raise ConfigError(f"{_where(src, line)}unknown sweep key {key!r}"
                              + did_you_mean(key, TOP_KEYS),
                              hint=f"a sweep file has {', '.join(TOP_KEYS)}; run settings go in [base]")

    def text_key(key, default):
        v = raw.get(key, default)
        if not isinstance(v, str):
            raise ConfigError(f"{_where(src, loc.key('', key))}{key} must be a string, got {v!r}")
        return v

    mode = text_key("mode", "grid")
    if mode not in MODES:
        raise ConfigError(f"{_where(src, loc.key('', 'mode'))}mode must be one of {', '.join(MODES)}, got {mode!r}")
    metric = text_key("metric", "total")
    if metric not in METRICS:
        raise ConfigError(f"{_where(src, loc.key('', 'metric'))}unknown metric {metric!r}"
                          + did_you_mean(metric, METRICS),
                          hint=f"metrics: {', '.join(METRICS)}")
    default_out = f"sweeps/{Path(path).stem}" if path is not None else "sweeps/sweep"
    out_path = Path(out) if out is not None else Path(text_key("out", default_out))
    base = raw.get("base", {})
    if not isinstance(base, dict):
        raise ConfigError(f"{_where(src, loc.key('', 'base'))}base must be a table ([base])")
    axes_raw = raw.get("axis", [])
    if not isinstance(axes_raw, list):
        raise ConfigError(f"{_where(src, loc.key('', 'axis'))}axes are [[axis]] tables")
    axes = [_parse_axis(a, i, src, loc) for i, a in enumerate(axes_raw)]
    seen: dict[str, int] = {}
    for ax in axes:
        if ax.key in seen:
            raise ConfigError(f"{_where(src, ax.line)}axis key {ax.key!r} is swept twice "
                              f"(also axis {seen[ax.key] + 1})")
        seen[ax.key] = ax.index
    return SweepSpec(path=Path(path) if path is not None else None, base=base, axes=axes, mode=mode,
                     metric=metric, out=out_path, title=text_key("title", ""),
                     description=text_key("description", ""), sets=list(sets), text=text)


def _parse_axis(a: Any, i: int, src: str, loc: C.TomlLines) -> Axis:
    where = _where(src, _axis_line(loc, i))
    if not isinstance(a, dict):
        raise ConfigError(f"{where}each axis must be a table ([[axis]])")
    for k in a:
        if k not in AXIS_KEYS:
            raise ConfigError(f"{_where(src, _axis_line(loc, i, k))}axis {i + 1}: unknown key {k!r}",
                              hint=f"an axis has {', '.join(AXIS_KEYS)}")
    key = a.get("key")
    if not isinstance(key, str) or not C.KEY_RE.fullmatch(key):
        raise ConfigError(f"{_where(src, _axis_line(loc, i, 'key'))}axis {i + 1}: key must be 'SECTION' or "
                          f"'SECTION.KEY' (e.g. 'denoiser_optimizer.learning_rate'), got {key!r}")
    section, _, name = key.partition(".")
    if section not in C.COMPONENTS and section not in C.FIXED_SECTIONS:
        raise ConfigError(f"{_where(src, _axis_line(loc, i, 'key'))}axis {i + 1}: unknown config section "
                          f"{section!r} in key {key!r}" + did_you_mean(section, [*C.COMPONENTS, *C.FIXED_SECTIONS]))
    if not name and section not in C.COMPONENTS:
        raise ConfigError(f"{_where(src, _axis_line(loc, i, 'key'))}axis {i + 1}: only a component section can be "
                          f"swept as a whole; use {section}.KEY")
    values = a.get("values")
    vline = _axis_line(loc, i, "values")
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{_where(src, vline)}axis {i + 1} ({key}): values must be a non-empty list")
    if not name:
        for v in values:
            if not isinstance(v, (str, dict)) or (isinstance(v, dict) and not isinstance(v.get("name", ""), str)):
                raise ConfigError(f"{_where(src, vline)}axis {i + 1} ({key}): each value must be a component "
                                  f"name or a table like {{ name = \"...\", param = ... }}, got {v!r}")
    labels = a.get("labels")
    if labels is None:
        labels = [fmt_value(v) for v in values]
    elif (not isinstance(labels, list) or len(labels) != len(values)
          or not all(isinstance(x, str) and x for x in labels)):
        raise ConfigError(f"{_where(src, _axis_line(loc, i, 'labels'))}axis {i + 1} ({key}): labels must be "
                          f"{len(values)} non-empty strings, one per value")
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError(f"{_where(src, vline)}axis {i + 1} ({key}): repeated value {dup[0]!r}")
    return Axis(key=key, values=list(values), labels=list(labels), index=i, line=_axis_line(loc, i, "key"))


# -- validation ------------------------------------------------------------------------------------------
def validate(spec: SweepSpec, components: bool = True) -> int:
    """Check the base, every axis value and every expanded configuration; returns how many.

    Raises ConfigError naming the file, the line and the key. With ``components``, every
    distinct component (section name + parameters) is built once through the registry.
    """
    loc = C.TomlLines(spec.text)
    cfg = C.defaults()
    for section, body in spec.base.items():
        items = body.items() if isinstance(body, Mapping) else [(None, body)]
        # a table's name first (one table is one component, see hpdesc.config.merge)
        items = sorted(items, key=lambda kv: kv[0] != "name")
        for key, value in items:
            layer = {section: ({key: value} if key is not None else value)}
            try:
                cfg = C.merge(cfg, layer)
            except HpdescError as exc:
                what = f"base: {section}" + (f".{key}" if key else "")
                _reraise(_where(spec, _base_line(loc, section, key)), what, exc)
    try:  # the base as a whole, with the --set items
        C.from_dict(spec.base_dict())
    except HpdescError as exc:
        where = _where(spec, None) if spec.sets else _where(spec, loc.key("", "base") or loc.header("base"))
        _reraise(where, "base" + (" with --set " + " ".join(spec.sets) if spec.sets else ""), exc)
    for ax in spec.axes:
        for i in range(len(ax.values)):
            try:
                C.from_dict(spec.config_dict({ax.index: i}))
            except HpdescError as exc:
                _reraise(_where(spec, _axis_line(loc, ax.index, "values")),
                         f"axis {ax.index + 1} ({ax.key} = {ax.labels[i]})", exc)
    if spec.grid_size <= MAX_VALIDATED:
        choices = list(spec.grid())
    else:  # too many to build each: the base plus one axis at a time
        choices = [{}] + [{a.index: i} for a in spec.axes for i in range(len(a.values))]
    checked: dict[str, None] = {}
    for choice in choices:
        try:
            rc = C.from_dict(spec.config_dict(choice))
            C.check_descriptor_settings(rc)
        except HpdescError as exc:
            line = _axis_line(loc, max(choice), "values") if choice else None
            _reraise(_where(spec, line), f"combination {_describe(spec, choice)}", exc)
        if components:
            _check_components(spec, rc, choice, checked, loc)
    return len(choices)


def _describe(spec: SweepSpec, choice: Mapping[int, int]) -> str:
    return ", ".join(f"{spec.axes[a].key} = {spec.axes[a].labels[i]}" for a, i in sorted(choice.items())) or "base"


def _check_components(spec: SweepSpec, rc: C.RunConfig, choice: Mapping[int, int], checked: dict,
                      loc: C.TomlLines) -> None:
    """Run ``hpdesc train``'s component checks on ``rc`` (:func:`hpdesc.validate.check_components`).

    ``checked`` is shared by the sweep's combinations, so each component is built once per role;
    an error names the axis value (or the ``[base]`` line) that chose the failing component.
    """
    from hpdesc import validate as V

    def locate(section: str, exc: HpdescError) -> None:
        involved = [a for a in sorted(choice) if spec.axes[a].section == section]
        if involved:
            a = involved[-1]
            where = _where(spec, _axis_line(loc, a, "values"))
            what = f"axis {a + 1} ({spec.axes[a].key} = {spec.axes[a].labels[choice[a]]})"
        else:
            key = "name" if "unknown" in exc.message else None
            where = _where(spec, _base_line(loc, section, key))
            what = f"base: {section}" + (".name" if key else "")
        _reraise(where, what, exc)

    V.check_components(rc, cache=checked, on_error=locate)
    from hpdesc.training.bench import check_baselines

    try:
        check_baselines(rc)
    except HpdescError as exc:
        _reraise(_where(spec, None), f"combination {_describe(spec, choice)}", exc)


def load_sweep(path, *, sets: Iterable[str] = (), out=None, validate_components: bool = True) -> SweepSpec:
    """Read, parse and fully validate a sweep file (nothing is run)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such sweep file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file") from None
    spec = parse_sweep(text, p, sets=sets, out=out)
    validate(spec, components=validate_components)
    return spec


__all__ = ["Axis", "SweepSpec", "METRICS", "MODES", "load_sweep", "parse_sweep", "validate"]
