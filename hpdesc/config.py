"""Typed run configuration: defaults < ``--config FILE.toml`` < flags < ``--set KEY=VALUE``.

A run's configuration is a few fixed sections (``data``, ``training``, ``benchmark``), whose keys
are checked by name and type, and six component sections (``denoiser``, ``descriptor``,
``denoiser_loss``, ``descriptor_loss``, ``denoiser_optimizer``, ``descriptor_optimizer``), each a
registry ``name`` plus free-form parameters that are handed to the component's factory (and
validated by building it, see :func:`hpdesc.validate.check_components`). The saved ``config.toml`` of a run is
fully resolved and re-running it reproduces the run; its ``[provenance]`` section records which
distribution and version provided each component and is informational on input.

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
import functools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from hpdesc.errors import ConfigError
from hpdesc.errors import did_you_mean

if sys.version_info >= (3, 11):  # pragma: no cover - version dependent
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

COMPONENTS: dict[str, str] = {
    # config section -> registry kind
    "denoiser": "denoiser",
    "descriptor": "descriptor",
    "denoiser_loss": "denoiser_loss",
    "descriptor_loss": "descriptor_loss",
    "denoiser_optimizer": "optimizer",
    "descriptor_optimizer": "optimizer",
}
STAGE_PARAMS: dict[str, tuple[str, ...]] = {
    # parameters of a section that outlive a change of component: the contract passes a
    # learning rate to every optimizer (docs/plugins.md), so it is the stage's setting
    "denoiser_optimizer": ("learning_rate",),
    "descriptor_optimizer": ("learning_rate",),
}
DESCRIPTOR_INPUTS = ("denoised", "clean", "noisy")
PRECISIONS = ("float32", "mixed")
WATCHDOG_MODES = ("stop", "warn", "off")
DISTRIBUTE_MODES = ("none", "mirrored", "multi-worker")  # training.distribute (hpdesc.training.distribute)
LR_SCALINGS = ("none", "linear")  # training.lr_scaling
TASKS = ("verification", "matching", "retrieval")
NO_DESCRIPTOR = "none"


@dataclass
class DataConfig:
    """Where the patches come from and how training sequences are split."""

    path: str | None = None  # None / "" = the embedded default dataset
    split: str = "default"
    descriptor_input: str = "denoised"  # what the descriptor trains on
    denoiser_val_ratio: str = "3:1"  # train:validation sequences for the denoiser stage
    descriptor_val_ratio: str = "10:1"


@dataclass
class TrainingConfig:
    """Budgets and schedules of the two training stages (an epoch is a fixed number of samples)."""

    seed: int = 0
    denoiser_epochs: int = 5
    descriptor_epochs: int = 12
    denoiser_batch_size: int = 32
    descriptor_batch_size: int = 128
    denoiser_samples_per_epoch: int = 640
    descriptor_triplets_per_epoch: int = 2048
    denoiser_val_samples: int = 128
    descriptor_val_triplets: int = 512
    denoise_pool: int = 3072  # most patch images the trained denoiser cleans for descriptor training
    pool_images_per_row: int = 4  # images of one patch kept in that pool (>= 2)
    descriptor_augment: bool = False  # same random flip/rot90 for anchor and positive
    precision: str = "mixed"  # bfloat16 compute on CPU (float16 on GPU), float32 weights; or "float32"
    patience: int = 0  # stop a stage after this many epochs without val improvement; 0 = never
    watchdog: str = "stop"  # what to do on NaN loss / collapsed descriptors: stop, warn, off
    collapse_distance: float = 0.01  # mean pairwise descriptor distance below this = collapse
    stuck_epochs: int = 3  # triplet loss within 0.2% of its margin this many epochs = stuck
    prefetch: int = 4  # batches prepared ahead by a background thread
    distribute: str = "none"  # data-parallel training: none, mirrored, multi-worker (docs/scaling.md)
    lr_scaling: str = "none"  # "linear": learning rates x number of replicas
    collective_timeout: float = 900.0  # seconds a cross-worker step may wait (0 = no limit)


@dataclass
class BenchmarkConfig:
    """What runs on the held-out test sequences after training."""

    enabled: bool = True
    tasks: list = field(default_factory=lambda: list(TASKS))
    protocol: str = "python"
    baselines: list = field(default_factory=lambda: ["raw", "sift"])


@dataclass
class Component:
    """A registry component: its name and the parameters passed to its factory."""

    name: str
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, **self.params}


def _default_components() -> dict[str, Component]:
    return {
        "denoiser": Component("dncnn"),
        "descriptor": Component("hardnet", {"dropout": 0.1}),
        "denoiser_loss": Component("mse"),
        "descriptor_loss": Component("hardnet"),
        "denoiser_optimizer": Component("adam", {"learning_rate": 1e-3}),
        "descriptor_optimizer": Component("adam", {"learning_rate": 2e-3}),
    }


@dataclass
class RunConfig:
    """The whole, typed configuration of a training run."""

    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    denoiser: Component = field(default_factory=lambda: _default_components()["denoiser"])
    descriptor: Component = field(default_factory=lambda: _default_components()["descriptor"])
    denoiser_loss: Component = field(default_factory=lambda: _default_components()["denoiser_loss"])
    descriptor_loss: Component = field(default_factory=lambda: _default_components()["descriptor_loss"])
    denoiser_optimizer: Component = field(default_factory=lambda: _default_components()["denoiser_optimizer"])
    descriptor_optimizer: Component = field(default_factory=lambda: _default_components()["descriptor_optimizer"])
    provenance: dict = field(default_factory=dict)

    # -- convenience -------------------------------------------------------------------
    @property
    def trains_descriptor(self) -> bool:
        return self.descriptor.name.lower() != NO_DESCRIPTOR

    def component(self, section: str) -> Component:
        return getattr(self, section)

    def to_dict(self, *, provenance: bool = True) -> dict:
        """Nested plain dict (None values dropped: TOML has no null)."""
        out: dict[str, Any] = {}
        for sec in ("data", "training", "benchmark"):
            out[sec] = {k: v for k, v in dataclasses.asdict(getattr(self, sec)).items() if v is not None}
        for sec in COMPONENTS:
            out[sec] = self.component(sec).to_dict()
        if provenance and self.provenance:
            out["provenance"] = copy.deepcopy(self.provenance)
        return out

    def to_toml(self) -> str:
        import tomli_w

        header = ("# hpdesc run configuration (fully resolved).\n"
                  "# Reproduce this run with: hpdesc train --config config.toml\n\n")
        return header + tomli_w.dumps(_strip_none(self.to_dict()))

    def save(self, path) -> Path:
        from hpdesc.atomic import write_text_atomic

        write_text_atomic(path, self.to_toml())
        return Path(path)

    def ratio(self, stage: str) -> float:
        """The train:val ratio of a stage as one number (3:1 -> 3.0)."""
        return parse_ratio(getattr(self.data, f"{stage}_val_ratio"), f"data.{stage}_val_ratio")


_FIXED = {"data": DataConfig, "training": TrainingConfig, "benchmark": BenchmarkConfig}


def _strip_none(obj):
    if isinstance(obj, dict):
        return {k: _strip_none(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_strip_none(v) for v in obj if v is not None]
    return obj


def defaults() -> dict:
    """The default configuration as a nested dict (the bottom layer)."""
    return RunConfig().to_dict()


@functools.lru_cache(maxsize=1)
def _default_layer() -> dict:
    """:func:`defaults`, computed once; read it, never change it."""
    return defaults()


# -- parsing ---------------------------------------------------------------------------------
def parse_ratio(text: Any, key: str = "ratio") -> float:
    """``"3:1"`` -> 3.0; a plain number is accepted as ``N:1``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9.]+)\s*:\s*([0-9.]+)\s*", str(text))
        if not m:
            raise ConfigError(f"{key}: expected a ratio like '3:1', got {text!r}")
        try:
            value = float(m.group(1)) / float(m.group(2))
        except (ValueError, ZeroDivisionError):
            raise ConfigError(f"{key}: expected a ratio like '3:1', got {text!r}") from None
    if not value > 0:
        raise ConfigError(f"{key}: the training share must be positive, got {text!r}")
    return value


def parse_value(raw: str) -> Any:
    """Parse the VALUE of ``--set KEY=VALUE`` as a TOML value; a bare word stays a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw.strip()


def parse_set(item: str) -> tuple[str, Any]:
    """``"denoiser.alpha=0.2"`` -> ``("denoiser.alpha", 0.2)``."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set denoiser.alpha=0.2")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", key):
        raise ConfigError(f"--set {item!r}: KEY must be SECTION or SECTION.NAME, e.g. denoiser.alpha")
    return key, parse_value(raw)


def read_toml(path) -> dict:
    """Read a TOML config file; syntax errors name the file and line."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such config file")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file") from None


class TomlLines:
    """Line numbers of the tables and keys of a TOML text, for error messages (best effort).

    One finder for config files (:func:`merge`'s messages) and sweep files
    (:mod:`hpdesc.experiments.sweepfile`). A key of table ``a.b`` is found as ``k = ...`` under
    ``[a.b]``, as ``b.k = ...`` under ``[a]``, as ``a.b.k = ...`` at the top, or inside an inline
    table (``b = { k = ... }`` under ``[a]``). ``[[name]]`` tables are numbered from 0 (``index``).
    Lines are 1-based; comment lines never match.
    """

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.tables: list[tuple[str, int]] = []  # per line: (table path, [[array]] index or -1)
        current, index, counts = "", -1, {}
        for line in self.lines:
            m = self._HEADER.match(line)
            if m:
                current = m.group(2).replace(" ", "")
                if m.group(1) == "[[":
                    counts[current] = index = counts.get(current, -1) + 1
                else:
                    index = -1
            self.tables.append((current, index))

    def find(self, pred) -> int | None:
        """The first non-comment line ``n`` (1-based) whose stripped text ``s`` has ``pred(n - 1, s)``."""
        for n, line in enumerate(self.lines):
            s = line.strip()
            if not s.startswith("#") and pred(n, s):
                return n + 1
        return None

    def _in(self, n: int, table: str, index: int | None) -> bool:
        return self.tables[n][0] == table and (index is None or self.tables[n][1] == index)

    def header(self, table: str, index: int | None = None) -> int | None:
        """The line of the ``[table]`` header (the ``index``-th ``[[table]]``; None: any)."""
        return self.find(lambda n, s: s.startswith("[") and self._in(n, table, index))

    def key(self, table: str, key: str, index: int | None = None) -> int | None:
        """The line that sets ``key`` of ``table`` (``""``: the top level), in any of the forms above."""
        k = re.escape(key)
        hit = self.find(lambda n, s: self._in(n, table, index) and re.match(rf"{k}\s*=", s))
        parts = table.split(".") if table and index is None else []
        for cut in range(len(parts) - 1, -1, -1):  # the nearest enclosing table first
            outer, rest = ".".join(parts[:cut]), re.escape(".".join(parts[cut:]))
            hit = hit or self.find(lambda n, s: self._in(n, outer, None) and re.match(rf"{rest}\.{k}\s*=", s))
            hit = hit or self.find(lambda n, s: self._in(n, outer, None) and re.match(rf"{rest}\s*=\s*\{{", s)
                                   and re.search(rf"(^|[{{,\s]){k}\s*=", s[s.index("{"):]))
        return hit


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
        if section not in _FIXED and section not in COMPONENTS:
            raise ConfigError(f"{_where(source, section)}unknown config section [{section}]",
                              hint=f"sections are {', '.join([*_FIXED, *COMPONENTS])}")
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


def same_component(a: str, b: str) -> bool:
    """Whether two spellings name one component (``dncnn`` and ``hpdesc:dncnn``)."""
    if a == b:
        return True
    if ":" in a and ":" in b:
        return False  # two qualified names that differ: two distributions
    return a.rpartition(":")[2] == b.rpartition(":")[2]


def given_params(section: str, body: Mapping) -> dict:
    """The parameters of a component table that are not hpdesc's defaults for it.

    The defaults' own parameters (``dropout = 0.1`` of the default HardNet) belong to the
    default component, in the defaults layer and wherever a saved config repeats them;
    everything else was somebody's choice. An optimizer's ``learning_rate`` belongs to the
    stage (:data:`STAGE_PARAMS`) and is never counted.
    """
    default = _default_layer()[section]
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
    cls = _FIXED[section]
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
    for sec, cls in _FIXED.items():
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


def check(cfg: RunConfig) -> None:
    """Value checks that do not need the registry."""
    t, data, b = cfg.training, cfg.data, cfg.benchmark
    if data.descriptor_input not in DESCRIPTOR_INPUTS:
        raise ConfigError(f"data.descriptor_input must be one of {', '.join(DESCRIPTOR_INPUTS)}, "
                          f"got {data.descriptor_input!r}")
    cfg.ratio("denoiser")
    cfg.ratio("descriptor")
    if t.precision not in PRECISIONS:
        raise ConfigError(f"training.precision must be one of {', '.join(PRECISIONS)}, got {t.precision!r}")
    if t.watchdog not in WATCHDOG_MODES:
        raise ConfigError(f"training.watchdog must be one of {', '.join(WATCHDOG_MODES)}, got {t.watchdog!r}")
    check_distribute(t.distribute, t.lr_scaling)
    for key in ("denoiser_epochs", "descriptor_epochs", "patience", "denoise_pool", "stuck_epochs", "prefetch"):
        if getattr(t, key) < 0:
            raise ConfigError(f"training.{key} must be >= 0, got {getattr(t, key)}")
    for key in ("denoiser_batch_size", "descriptor_batch_size", "denoiser_samples_per_epoch",
                "descriptor_triplets_per_epoch", "denoiser_val_samples", "descriptor_val_triplets"):
        if getattr(t, key) < 1:
            raise ConfigError(f"training.{key} must be >= 1, got {getattr(t, key)}")
    if t.descriptor_batch_size < 2:
        raise ConfigError("training.descriptor_batch_size must be >= 2 (in-batch negatives)")
    if t.pool_images_per_row < 2 or t.pool_images_per_row > 16:
        raise ConfigError(f"training.pool_images_per_row must be in 2..16, got {t.pool_images_per_row}")
    bad = [x for x in b.tasks if x not in TASKS]
    if bad:
        raise ConfigError(f"benchmark.tasks: unknown task(s) {', '.join(map(str, bad))}; tasks are {', '.join(TASKS)}")
    for sec in ("denoiser_optimizer", "descriptor_optimizer"):
        lr = cfg.component(sec).params.get("learning_rate")
        if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float))):
            raise ConfigError(f"{sec}.learning_rate must be a number, got {lr!r}")


def check_distribute(mode: str, lr_scaling: str) -> None:
    """``training.distribute`` and ``training.lr_scaling`` are known values (ConfigError otherwise)."""
    if mode not in DISTRIBUTE_MODES:
        raise ConfigError(f"training.distribute must be one of {', '.join(DISTRIBUTE_MODES)}, got {mode!r}")
    if lr_scaling not in LR_SCALINGS:
        raise ConfigError(f"training.lr_scaling must be one of {', '.join(LR_SCALINGS)}, got {lr_scaling!r}")


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


def unused_descriptor_settings(cfg: RunConfig) -> list[str]:
    """Descriptor-stage components set away from the defaults although no descriptor is trained."""
    if cfg.trains_descriptor:
        return []
    out = [f"descriptor.{k}" for k in cfg.descriptor.params]
    for sec in ("descriptor_loss", "descriptor_optimizer"):
        comp, default = cfg.component(sec), _default_layer()[sec]
        if not same_component(comp.name, default["name"]):
            out.append(f"{sec} = {comp.name!r}")
        else:
            out += [f"{sec}.{k}" for k, v in comp.params.items() if k not in default or default[k] != v]
    return out


def check_descriptor_settings(cfg: RunConfig) -> None:
    """Refuse descriptor-stage settings of a run that trains no descriptor (they would do nothing)."""
    unused = unused_descriptor_settings(cfg)
    if unused:
        raise ConfigError(f"{', '.join(unused)} cannot take effect: no descriptor is trained "
                          f"(descriptor = {cfg.descriptor.name!r})",
                          hint="remove those settings, or pick a descriptor (e.g. --descriptor hardnet)")
