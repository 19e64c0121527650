"""Load a trained run's configuration and models (shared by the API and the image path).

Lives below the API (beside :class:`~hpdesc.training.run.RunDir`) so that :mod:`hpdesc.matching` can load a
run given as a folder; :mod:`hpdesc.inference` never imports training, it gets the loaded models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpdesc import config as C
from hpdesc.errors import PluginError, UsageError
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


def load_run(run_dir=None) -> LoadedRun:
    """Load a run's config and models (default: the latest run)."""
    import keras

    run = RunDir(run_dir).check() if run_dir is not None else _latest()
    cfg = C.resolve(run.config)
    import_recorded(cfg)
    models = {}
    for stage in ("denoiser", "descriptor"):
        p = run.model(stage)
        if p.exists():
            try:
                models[stage] = keras.saving.load_model(p)
            except Exception as exc:  # noqa: BLE001 - name the file and the likely cause
                raise PluginError(f"{p}: cannot load the model ({type(exc).__name__}: {str(exc).splitlines()[0]})",
                                  hint="is the plugin that built it installed? see [provenance] in config.toml") from None
        else:
            models[stage] = None
    if models["denoiser"] is None and models["descriptor"] is None:
        raise UsageError(f"{run.path}: the run has no trained models yet",
                         hint=f"finish it with hpdesc train --resume {run.path}")
    return LoadedRun(run, cfg, models["denoiser"], models["descriptor"])


__all__ = ["LoadedRun", "import_recorded", "load_run"]
