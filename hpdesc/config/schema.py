"""The run configuration's shape: its sections and defaults, and the value checks that need no registry.

A run's configuration is a few fixed sections (``data``, ``training``, ``benchmark``), whose keys
are checked by name and type, and six component sections (:data:`COMPONENTS`), each a registry
``name`` plus free-form parameters handed to the component's factory (checked by building it, see
:func:`hpdesc.validate.check_components`).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpdesc.errors import ConfigError, UsageError

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
    init: str | None = None  # initial weights: a run, a .keras file, a PyTorch .pth (--init; docs/interop.md)


@dataclass
class BenchmarkConfig:
    """What runs on the held-out test sequences after training."""

    enabled: bool = True
    tasks: list = field(default_factory=lambda: list(TASKS))
    protocol: str = "python"
    baselines: list = field(default_factory=lambda: ["raw", "sift", "nlmeans"])  # descriptors, or denoisers (scored with the run's descriptor)


# the fixed sections (keys checked by name and type) -> their dataclass
FIXED_SECTIONS: dict[str, type] = {"data": DataConfig, "training": TrainingConfig, "benchmark": BenchmarkConfig}


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
        for sec in FIXED_SECTIONS:
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
def default_layer() -> dict:
    """:func:`defaults`, computed once; read it, never change it."""
    return defaults()


def same_component(a: str, b: str) -> bool:
    """Whether two spellings name one component (``dncnn`` and ``hpdesc:dncnn``)."""
    if a == b:
        return True
    if ":" in a and ":" in b:
        return False  # two qualified names that differ: two distributions
    return a.rpartition(":")[2] == b.rpartition(":")[2]


# -- value checks ------------------------------------------------------------------------------
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


_INT64 = (-(2 ** 63), 2 ** 63 - 1)


def _check_int64(obj, key: str = "") -> None:
    """Every integer fits TOML's 64-bit integers (config.toml must read back as it was written)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_int64(v, f"{key}.{k}" if key else str(k))
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_int64(v, key)
    elif isinstance(obj, int) and not isinstance(obj, bool) and not _INT64[0] <= obj <= _INT64[1]:
        raise ConfigError(f"{key} = {obj} is out of range: settings are 64-bit integers "
                          f"({_INT64[0]} .. {_INT64[1]})")


def check(cfg: RunConfig) -> None:
    """Value checks that do not need the registry."""
    t, data, b = cfg.training, cfg.data, cfg.benchmark
    _check_int64(cfg.to_dict())
    if isinstance(t.seed, bool) or not isinstance(t.seed, int) or not 0 <= t.seed <= 2 ** 32 - 1:
        raise ConfigError(f"training.seed must be a whole number in 0 .. {2 ** 32 - 1}, got {t.seed!r}")
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


def _changed_components(cfg: RunConfig, sections) -> list[str]:
    """The components of ``sections`` set away from the defaults: a changed name, or changed parameters."""
    out = []
    for sec in sections:
        comp, default = cfg.component(sec), default_layer()[sec]
        if not same_component(comp.name, default["name"]):
            out.append(f"{sec} = {comp.name!r}")
        else:
            out += [f"{sec}.{k}" for k, v in comp.params.items() if k not in default or default[k] != v]
    return out


def unused_descriptor_settings(cfg: RunConfig) -> list[str]:
    """Descriptor-stage components set away from the defaults although no descriptor is trained."""
    if cfg.trains_descriptor:
        return []
    return [f"descriptor.{k}" for k in cfg.descriptor.params] + _changed_components(cfg, ("descriptor_loss",
                                                                                       "descriptor_optimizer"))


def unused_denoiser_settings(cfg: RunConfig) -> list[str]:
    """Denoiser-training components (loss, optimizer) set away from the defaults.

    They only act when the denoiser has weights to train; the caller decides whether it has
    (:func:`hpdesc.validate.check_components` builds it). The ``training.denoiser_*`` budgets are
    not counted: ``--epochs`` sets both stages, and a sweep's base sets them for every combination.
    """
    return _changed_components(cfg, ("denoiser_loss", "denoiser_optimizer"))


def check_denoiser_settings(cfg: RunConfig) -> None:
    """Refuse a denoiser loss / optimizer for a run whose denoiser has no weights (identity, nlmeans).

    The caller knows the denoiser has none (:func:`hpdesc.validate.check_components` built it).
    """
    unused = unused_denoiser_settings(cfg)
    if unused:
        name = cfg.denoiser.name
        raise ConfigError(f"{', '.join(unused)} cannot take effect: the denoiser {name!r} has no weights to train",
                          hint=f"remove those settings; with --denoiser {name} only the descriptor is trained")


def check_fixed_descriptor(cfg: RunConfig, denoiser_trains: bool) -> None:
    """A run whose descriptor has no weights (sift, onnx) trains only its denoiser; refuse it when that has none.

    The caller built both (:func:`hpdesc.validate.check_components`). The descriptor stage is
    skipped then (the model is saved as it is) and the run benchmarks the trained denoiser in
    front of the fixed descriptor. A descriptor loss / optimizer would do nothing and is refused.
    """
    name = cfg.descriptor.name
    if not denoiser_trains:
        raise UsageError(f"{name} is not trainable; use hpdesc describe --descriptor {name}",
                         hint=f"{name} has no weights and neither has the denoiser {cfg.denoiser.name!r}; "
                              f"train a denoiser in front of it (--denoiser dncnn --descriptor {name})")
    unused = _changed_components(cfg, ("descriptor_loss", "descriptor_optimizer"))
    if unused:
        raise ConfigError(f"{', '.join(unused)} cannot take effect: the descriptor {name!r} has no weights to train",
                          hint=f"remove those settings; with --descriptor {name} only the denoiser is trained")


def check_descriptor_settings(cfg: RunConfig) -> None:
    """Refuse descriptor-stage settings of a run that trains no descriptor (they would do nothing)."""
    unused = unused_descriptor_settings(cfg)
    if unused:
        raise ConfigError(f"{', '.join(unused)} cannot take effect: no descriptor is trained "
                          f"(descriptor = {cfg.descriptor.name!r})",
                          hint="remove those settings, or pick a descriptor (e.g. --descriptor hardnet)")
