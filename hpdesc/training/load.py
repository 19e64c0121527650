"""Load a trained run's configuration and models (shared by the API and the image path).

Lives below the API (beside :class:`~hpdesc.training.run.RunDir`) so that :mod:`hpdesc.matching` can load a
run given as a folder; :mod:`hpdesc.inference` never imports training, it gets the loaded models.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpdesc import config as C
from hpdesc.errors import DataFormatError, PluginError, ReadError, UsageError
from hpdesc.training.run import RunDir
from hpdesc.training.run import latest_run as _latest


@dataclass
class LoadedRun:
    """A run's configuration and models (``descriptor`` is None for a denoiser-only run)."""

    run: RunDir
    config: C.RunConfig
    denoiser: Any
    descriptor: Any


def import_recorded(cfg: C.RunConfig) -> None:
    """Check a run's recorded components are installed and import them (custom layers register).

    A missing plugin distribution is a PluginError naming the distribution to install.
    """
    from hpdesc.validate import check_run_components

    check_run_components(cfg.provenance)


def _import_model_plugins() -> None:
    """Import every installed denoiser and descriptor entry point (their custom layers register).

    For a ``.keras`` file outside a run directory, where no config names its components; an entry
    point that fails to import is skipped here (loading then names the class it lacks).
    """
    from hpdesc import registry
    from hpdesc.errors import HpdescError

    for kind in ("denoiser", "descriptor"):
        for entry in registry.entries(kind):
            try:
                registry.load(kind, entry.name)
            except HpdescError:
                continue


def load_keras(path: Path):
    """``keras.saving.load_model`` with hpdesc's layers registered; a failure is one PluginError line."""
    import keras

    import hpdesc.models  # noqa: F401 - registers every hpdesc layer

    if str(path).endswith(".keras") and Path(path).is_file() and not zipfile.is_zipfile(path):
        # Keras says "File not found" for a .keras file that is not a whole zip archive
        raise ReadError(f"cannot read {path}: not a complete .keras model file (truncated or corrupt)",
                        hint="re-create it (train again or restore a copy)")
    try:
        return keras.saving.load_model(path)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ReadError(f"cannot read {path}: the model file is corrupt ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    except Exception as exc:  # noqa: BLE001 - name the file and the likely cause
        raise PluginError(f"{path}: cannot load the model ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                          hint="is the plugin that built it installed? see [provenance] in config.toml") from None


def load_model(path):
    """A saved hpdesc model as a Keras model, after importing the plugins it needs (see api.load_model)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such model file" if not p.exists() else f"{p}: not a model file (a folder)",
                         hint="a run's models are RUN/denoiser.keras and RUN/descriptor.keras")
    run = RunDir(p.parent)
    if run.config.exists():
        import_recorded(C.resolve(run.config))
    else:
        _import_model_plugins()
    return load_keras(p)


def check_model_matches(run: RunDir, cfg: C.RunConfig, stage: str, model) -> None:
    """Refuse a run whose model file is another component than its config.toml names (a file
    copied from another run): its output would carry the wrong label."""
    from hpdesc import registry

    name = getattr(model, "name", None)
    configured = cfg.component(stage).name.rpartition(":")[2]
    if model is None or not isinstance(name, str) or name == configured:
        return
    if name in {e.name for e in registry.entries(stage)}:  # the model is plainly another component
        raise DataFormatError(f"{run.model(stage)} is a {name!r} {stage}, but {run.config} names {configured!r}",
                              hint="the run's files do not belong together: restore its config.toml or model file")


def load_run(run_dir=None) -> LoadedRun:
    """Load a run's config and models (default: the latest run)."""
    run = RunDir(run_dir).check() if run_dir is not None else _latest()
    cfg = C.resolve(run.config)
    import_recorded(cfg)
    models = {stage: load_keras(run.model(stage)) if run.model(stage).exists() else None
              for stage in ("denoiser", "descriptor")}
    if models["denoiser"] is None and models["descriptor"] is None:
        raise UsageError(f"{run.path}: the run has no trained models yet",
                         hint=f"finish it with hpdesc train --resume {run.path}")
    for stage, model in models.items():
        check_model_matches(run, cfg, stage, model)
    return LoadedRun(run, cfg, models["denoiser"], models["descriptor"])


__all__ = ["LoadedRun", "import_recorded", "load_keras", "load_model", "load_run"]
