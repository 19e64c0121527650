"""Starting or resuming a training run from the API's arguments: the config, the checks, the run directory.

:func:`resolve_config` layers the settings (defaults < config < flags < ``--set``);
:func:`start_training` checks everything a run needs before anything is written, creates the
run directory (chief only) and hands over to :func:`hpdesc.training.pipeline.run_training`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterable, Mapping

from hpdesc import config as C
from hpdesc.atomic import check_writable, make_dirs
from hpdesc.errors import UsageError
from hpdesc.progress import Reporter
from hpdesc.training.run import RunDir, new_run_dir, runs_root

# keyword arguments of hpdesc.train() that map onto config keys (the CLI's flags)
FLAG_KEYS = {
    "denoiser": "denoiser.name",
    "descriptor": "descriptor.name",
    "denoiser_loss": "denoiser_loss.name",
    "descriptor_loss": "descriptor_loss.name",
    "denoiser_optimizer": "denoiser_optimizer.name",
    "descriptor_optimizer": "descriptor_optimizer.name",
    "data": "data.path",
    "split": "data.split",
    "descriptor_input": "data.descriptor_input",
    "seed": "training.seed",
    "precision": "training.precision",
    "init": "training.init",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "distribute": "training.distribute",
}


def resolve_config(config=None, sets: Iterable[str] = (), **flags) -> C.RunConfig:
    """Layer defaults < ``config`` (path, dict or RunConfig) < keyword flags < ``sets``.

    ``sets`` come last, so their parameters reach the component a flag picked; a parameter given
    for a component that a later layer replaces is a ConfigError (see :mod:`hpdesc.config.layers`).
    """
    skip = flags.pop("skip_denoiser", False)
    if skip and flags.get("denoiser") not in (None, "none", "identity"):
        raise UsageError(f"--skip-denoiser and --denoiser {flags['denoiser']} conflict: skipping means no denoiser",
                         hint="give one of them")
    unknown = [k for k in flags if k not in FLAG_KEYS]
    if unknown:
        raise UsageError(f"unknown argument {unknown[0]!r}; use one of {', '.join([*FLAG_KEYS, 'skip_denoiser'])} "
                         "or sets=['SECTION.KEY=VALUE']")
    mapped = {FLAG_KEYS[k]: (str(v) if k == "data" and v is not None else v) for k, v in flags.items()}
    if skip:
        mapped["denoiser.name"] = "identity"
    cfg = C.resolve(config, sets=sets, flags=mapped)
    if cfg.denoiser.name.lower() == "none":
        cfg.denoiser.name = "identity"
    return cfg


def new_run_config(config=None, sets: Iterable[str] = (), **flags) -> C.RunConfig:
    """:func:`resolve_config` with train's rule: ``denoiser=X`` without ``descriptor`` trains the
    denoiser alone (unless a config or a set names a descriptor)."""
    sets = list(sets)
    if (flags.get("denoiser") is not None and flags.get("descriptor") is None and config is None
            and not any(s.split("=", 1)[0].strip() in ("descriptor", "descriptor.name") for s in sets)):
        flags["descriptor"] = "none"
    return resolve_config(config, sets, **flags)


def drop_ignored_params(cfg: C.RunConfig, reporter: Reporter) -> None:
    """Let a run saved before inert parameters were refused resume (the network is the same without them)."""
    from hpdesc import registry
    from hpdesc.errors import HpdescError
    from hpdesc.models.layers import ignored_before_checks

    for section in ("denoiser", "descriptor"):
        comp = cfg.component(section)
        if section == "descriptor" and not cfg.trains_descriptor:
            continue
        try:
            factory = registry.load(section, comp.name)
        except HpdescError:
            continue  # building it reports the problem
        for key in ignored_before_checks(comp.params, factory):
            value = comp.params.pop(key)
            reporter.log(f"note: this run was saved with {section}.{key} = {value!r}, which has no effect "
                         f"in it (hpdesc now refuses it); resuming without it, the network is the same")


def _refuse_settings_on_resume(config, sets: list, out, flags: Mapping) -> None:
    """A resumed run keeps its own config: any other setting would silently do nothing."""
    given = [name for name, v in (("--config", config), ("--set", sets or None), ("--out", out)) if v is not None]
    given += [f"--{k.replace('_', '-')}" for k, v in flags.items() if v is not None and v is not False]
    if given:
        raise UsageError(f"--resume continues a run with its own config; drop {', '.join(given)}",
                         hint="to change settings start a new run: hpdesc train --config RUN/config.toml ...")


def start_training(config=None, *, sets: Iterable[str] = (), out=None, resume=None, reporter: Reporter,
                   max_epochs_this_session: int | None = None, **flags):
    """What :func:`hpdesc.train` does (its docstring has the arguments); returns a RunResult."""
    from hpdesc.inference.datasets import default_data_path
    from hpdesc.training import distribute
    from hpdesc.training.bench import check_baselines
    from hpdesc.training.load import import_recorded
    from hpdesc.training.pipeline import provenance, run_training
    from hpdesc.validate import check_components

    sets = list(sets)
    session = {"reporter": reporter, "max_epochs_this_session": max_epochs_this_session}
    if resume is not None:
        _refuse_settings_on_resume(config, sets, out, flags)
        run = RunDir(resume).check()
        cfg = C.resolve(run.config)
        cluster = distribute.setup(cfg.training)  # before any TensorFlow op (docs/scaling.md)
        # a second --resume of this run fails at once, naming the holder (only the chief writes the run)
        with run.lock() if cluster.is_chief else contextlib.nullcontext():
            if run.state().get("finished"):
                reporter.log(f"{run.path} already finished")
            import_recorded(cfg)
            drop_ignored_params(cfg, reporter)
            return distribute.train_here(cfg, run, run_training, **session)
    cfg = new_run_config(config, sets, **flags)
    cluster = distribute.setup(cfg.training)  # before any TensorFlow op (docs/scaling.md)
    if cluster.is_chief:  # only the chief writes; say now, not after the embedded dataset is built
        check_writable(out if out is not None else runs_root(), folder=True)
    from hpdesc.training import init as _init

    init = _init.prepare(cfg)  # --init: a .pth sets the hardnet parameters it needs
    entries = check_components(cfg)  # `--descriptor sift`, a bad parameter: one line, before anything is written
    if init is not None:
        _init.check(cfg, init)
    check_baselines(cfg)
    if not cfg.data.path:
        reporter.log("using the embedded dataset (built on first use)")
        cfg.data.path = str(default_data_path(reporter))
    data = Path(cfg.data.path)
    if not data.exists():
        raise UsageError(f"{data}: no such dataset file")
    cfg.data.path = str(data.resolve())
    from hpdesc.data.store import open_dataset

    with open_dataset(cfg.data.path) as ds:  # check split names before creating the run
        ds.split(cfg.data.split)
    cfg.provenance = provenance(cfg, entries)
    if init is not None:
        cfg.provenance["init_sha256"] = init.sha256()
    if not cluster.is_chief:  # only the chief writes the run directory
        return distribute.train_here(cfg, None, run_training, **session)
    if out is not None:
        run = RunDir(out)
        if run.config.exists():
            raise UsageError(f"{run.path} already holds a run", hint=f"continue it with --resume {run.path} "
                             "or choose another --out")
        make_dirs(run.path)
    else:
        run = new_run_dir(cfg.denoiser.name, cfg.descriptor.name if cfg.trains_descriptor else "none")
    with run.lock():
        cfg.save(run.config)
        return distribute.train_here(cfg, run, run_training, **session)


__all__ = ["FLAG_KEYS", "drop_ignored_params", "new_run_config", "resolve_config", "start_training"]
