"""Initial weights for a run (``hpdesc train --init SPEC``) and ``hpdesc.load_weights``: one resolver for every source.

``SPEC`` is one of:

- a run directory: its ``denoiser.keras`` / ``descriptor.keras`` initialise the same stages;
- a ``.keras`` file: the stage its name says (``denoiser.keras`` / ``descriptor.keras``), else the
  one its output says (a 2-D output is a descriptor);
- a PyTorch checkpoint (``.pth``, ``.pt``, ``.pth.tar``, ``.tar``, ``.ckpt``): a HardNet / SOSNet
  state dict for hpdesc's ``hardnet`` descriptor (:mod:`hpdesc.models.torchmap`; needs torch).

(``zoo:NAME`` is the zoo's spelling; it goes through :func:`resolve_init` as well.)

Keras weights are copied when every weight has the shape of the model's (same architecture);
otherwise the first mismatch is one line. The run records the spec, resolved to an absolute
path (``training.init``), and the file's SHA-256 (``[provenance] init_sha256``; a run directory:
that of each of its model files).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from hpdesc.errors import ConfigError, DataFormatError, UsageError

TORCH_SUFFIXES = (".pth", ".pt", ".tar", ".ckpt", ".bin")
STAGES = ("denoiser", "descriptor")


@dataclass
class InitSource:
    """What ``--init SPEC`` resolves to: the file(s), their kind and which stages they fill."""

    spec: str
    kind: str  # "run", "keras" or "torch"
    path: Path
    files: dict = field(default_factory=dict)  # stage -> Path (run / keras)
    descriptor_params: dict = field(default_factory=dict)  # the hardnet parameters a torch checkpoint needs
    _state: dict | None = None

    @property
    def stages(self) -> tuple[str, ...]:
        return ("descriptor",) if self.kind == "torch" else tuple(s for s in STAGES if s in self.files)

    def sha256(self) -> str:
        """SHA-256 of the file (of each model file of a run, ``stage:digest`` joined by spaces)."""
        paths = {"": self.path} if self.kind != "run" else self.files
        return " ".join(f"{k + ':' if k else ''}{_digest(p)}" for k, p in paths.items())

    def state_dict(self) -> dict:
        from hpdesc.models.torchmap import read_state_dict

        if self._state is None:
            self._state = read_state_dict(self.path)
        return self._state


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _keras_stage(path: Path) -> str:
    if path.stem in STAGES:
        return path.stem
    from hpdesc.training.load import load_model

    model = load_model(path)
    return "descriptor" if len(model.output_shape) == 2 else "denoiser"


def resolve_init(spec) -> InitSource:
    """Resolve ``--init SPEC`` (a run directory, a ``.keras`` file or a PyTorch checkpoint) or fail in one line."""
    text = str(spec)
    if text.startswith("zoo:"):
        raise UsageError(f"--init {text}: this hpdesc has no model zoo", hint="give a run directory, a .keras "
                         "file or a PyTorch HardNet checkpoint (.pth)")
    path = Path(text).expanduser()
    if path.is_dir():
        from hpdesc.training.run import RunDir

        run = RunDir(path).check()
        files = {s: run.model(s).resolve() for s in STAGES if run.model(s).exists()}
        if not files:
            raise UsageError(f"--init {text}: the run has no trained models yet")
        return InitSource(text, "run", path.resolve(), files)
    if not path.exists():
        raise UsageError(f"--init {text}: no such file or run directory")
    name = path.name.lower()
    if name.endswith(".keras"):
        return InitSource(text, "keras", path.resolve(), {_keras_stage(path): path.resolve()})
    if name.endswith(TORCH_SUFFIXES):
        from hpdesc.models.torchmap import hardnet_params

        src = InitSource(text, "torch", path.resolve())
        src.descriptor_params = hardnet_params(src.state_dict(), str(path))
        return src
    raise UsageError(f"--init {text}: not a run directory, a .keras file or a PyTorch checkpoint "
                     f"({', '.join(TORCH_SUFFIXES)})")


def prepare(cfg) -> InitSource | None:
    """Resolve ``cfg.training.init`` and fill what a PyTorch checkpoint needs; None without one.

    A torch checkpoint sets the ``hardnet`` parameters it needs
    (:data:`hpdesc.models.torchmap.TORCH_HARDNET_PARAMS`, ``filters``, ``dim``) where they are not
    set; a conflicting setting is a ConfigError. The path is made absolute (resume may run
    elsewhere). Call :func:`check` once the components are checked.
    """
    from hpdesc.config import same_component

    spec = cfg.training.init
    if not spec:
        return None
    src = resolve_init(spec)
    cfg.training.init = str(src.path)
    if src.kind == "torch":
        if not same_component(cfg.descriptor.name, "hardnet"):
            raise ConfigError(f"--init {spec}: a PyTorch HardNet checkpoint initialises the hardnet descriptor, "
                              f"not {cfg.descriptor.name!r}", hint="use --descriptor hardnet")
        for key, value in src.descriptor_params.items():
            given = cfg.descriptor.params.get(key)
            if given is not None and given != value:
                raise ConfigError(f"descriptor.{key} = {given!r} cannot take effect: --init {spec} needs "
                                  f"descriptor.{key} = {value!r}", hint=f"remove descriptor.{key}")
            cfg.descriptor.params[key] = value
    return src


def check(cfg, src: InitSource) -> None:
    """Fill this run's models from ``src`` once, before training: a mismatch fails now, in one line.

    Raises a UsageError when ``src`` fills none of the models this run trains (it would do nothing).
    """
    from hpdesc import registry
    from hpdesc.models import is_trainable
    from hpdesc.validate import ensure_built

    filled = []
    for stage in src.stages:
        if stage == "descriptor" and not cfg.trains_descriptor:
            continue
        comp = cfg.component(stage)
        model = ensure_built(registry.build(stage, comp.name, input_shape=(32, 32, 1), **comp.params))
        if is_trainable(model) and apply(model, stage, src):
            filled.append(stage)
    if not filled:
        raise UsageError(f"--init {src.spec} holds a {' and a '.join(src.stages)}, and this run trains none of them "
                         f"(denoiser {cfg.denoiser.name!r}, descriptor {cfg.descriptor.name!r})",
                         hint="initialise a stage the run trains")


def apply(model, stage: str, src: InitSource) -> bool:
    """Copy ``src``'s weights for ``stage`` into ``model``; False when ``src`` has none for it."""
    if stage not in src.stages:
        return False
    if src.kind == "torch":
        from hpdesc.models.torchmap import load_hardnet

        load_hardnet(model, src.state_dict(), str(src.path))
        return True
    from hpdesc.training.load import load_model

    source = load_model(src.files[stage])
    if not source.weights:  # a run's identity / classical denoiser, a sift descriptor: nothing to copy
        return False
    copy_weights(source, model, f"--init {src.spec} ({stage})")
    return True


def copy_weights(source, target, what: str) -> None:
    """``target.set_weights(source.get_weights())`` after checking both hold the same weights."""
    a, b = source.weights, target.weights
    if len(a) != len(b):
        raise UsageError(f"{what}: the saved model has {len(a)} weights, this run's {len(b)}: not the same "
                         "architecture", hint="build the model with the saved run's parameters "
                                              "(--config RUN/config.toml, or --set them)")
    for wa, wb in zip(a, b):
        if tuple(wa.shape) != tuple(wb.shape):
            raise UsageError(f"{what}: weight {wb.path or wb.name} has shape {tuple(wb.shape)}, the saved "
                             f"{wa.path or wa.name} {tuple(wa.shape)}: not the same architecture",
                             hint="build the model with the saved run's parameters "
                                  "(--config RUN/config.toml, or --set them)")
    target.set_weights(source.get_weights())


def load_weights(model, spec):
    """Fill ``model`` (built) from ``spec`` (a ``.pth``, a ``.keras`` file or a run directory); returns it.

    The stage is the model's: a 2-D output is a descriptor. A torch checkpoint needs hpdesc's
    ``hardnet`` built with the checkpoint's parameters (:func:`hpdesc.models.torchmap.hardnet_params`).
    """
    stage = "descriptor" if len(model.output_shape) == 2 else "denoiser"
    src = resolve_init(spec)
    if not apply(model, stage, src):
        raise DataFormatError(f"{spec}: holds no {stage} (it has: {', '.join(src.stages) or 'nothing'})")
    return model
