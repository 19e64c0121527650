"""The Python API, mirroring the CLI: ``train``, ``denoise``, ``describe``, ``benchmark``.

Example (a notebook)::

    import hpdesc
    result = hpdesc.train(denoiser="dncnn", descriptor="hardnet", epochs=2)
    print(result.benchmark["results"])
    hpdesc.describe(run=result.run_dir, out="desc.h5")

This module is long because it is the one public surface, kept on one page: one function per
command, each with every option of its CLI command in its signature and docstring, and the
functions reach each other through this module's namespace (``benchmark`` -> ``describe_run`` ->
``load_run``, ``train`` -> ``resolve_config``), where callers and tests patch them. The work itself
lives below (training/, inference/, benchmark/); a package of one-function files would scatter
the API without making any function shorter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from hpdesc import config as C
from hpdesc.atomic import check_writable, make_dirs
from hpdesc.errors import PluginError, UsageError
from hpdesc.training.run import RunDir, new_run_dir, runs_root
from hpdesc.training.run import latest_run as _latest

# keyword arguments of train() that map onto config keys (the CLI's flags)
_FLAG_KEYS = {
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
    "epochs": "epochs",
    "batch_size": "batch_size",
    "distribute": "training.distribute",
}


def default_data_path(progress: Callable[[int, int], None] | None = None) -> Path:
    """The embedded dataset (built and cached on first use)."""
    from hpdesc.benchmark.tasks import build_tasks
    from hpdesc.data import cache

    return Path(cache.default_dataset(progress=progress, tasks=build_tasks))


def resolve_config(config=None, sets: Iterable[str] = (), **flags) -> C.RunConfig:
    """Layer defaults < ``config`` (path, dict or RunConfig) < keyword flags < ``sets``.

    ``sets`` come last, so their parameters reach the component a flag picked; a parameter given
    for a component that a later layer replaces is a ConfigError (see :mod:`hpdesc.config.layers`).
    """
    skip = flags.pop("skip_denoiser", False)
    unknown = [k for k in flags if k not in _FLAG_KEYS]
    if unknown:
        raise UsageError(f"unknown argument {unknown[0]!r}; use one of {', '.join([*_FLAG_KEYS, 'skip_denoiser'])} "
                         "or sets=['SECTION.KEY=VALUE']")
    mapped = {_FLAG_KEYS[k]: (str(v) if k == "data" and v is not None else v) for k, v in flags.items()}
    if skip:
        mapped["denoiser.name"] = "identity"
    cfg = C.resolve(config, sets=sets, flags=mapped)
    if cfg.denoiser.name.lower() == "none":
        cfg.denoiser.name = "identity"
    return cfg


def _drop_ignored_params(cfg: C.RunConfig, reporter) -> None:
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


def _reporter(progress):
    from hpdesc.progress import Reporter

    return progress if progress is not None else Reporter()


def _refuse_settings_on_resume(config, sets: list, out, flags: Mapping) -> None:
    """A resumed run keeps its own config: any other setting would silently do nothing."""
    given = [name for name, v in (("--config", config), ("--set", sets or None), ("--out", out)) if v is not None]
    given += [f"--{k.replace('_', '-')}" for k, v in flags.items() if v is not None and v is not False]
    if given:
        raise UsageError(f"--resume continues a run with its own config; drop {', '.join(given)}",
                         hint="to change settings start a new run: hpdesc train --config RUN/config.toml ...")


def train(config=None, *, sets: Iterable[str] = (), out=None, resume=None, progress=None,
          max_epochs_this_session: int | None = None, **flags):
    """Train a denoiser and/or a descriptor, benchmark them, and return a RunResult.

    ``config``: a TOML path, a dict or a RunConfig; ``sets``: ``"KEY=VALUE"`` strings; ``flags``:
    ``denoiser``, ``descriptor`` (``"none"``: train a denoiser alone; left out next to
    ``denoiser``, with no ``config`` or set naming one, it is ``"none"``), ``skip_denoiser``,
    ``denoiser_loss``, ``descriptor_loss``, ``denoiser_optimizer``, ``descriptor_optimizer``,
    ``data``, ``split``, ``descriptor_input``, ``seed``, ``precision``, ``epochs``, ``batch_size``,
    ``distribute`` (``none``, ``mirrored``, ``multi-worker``: docs/scaling.md).
    ``resume``: a run directory to continue (its config is used; any other setting is refused).
    ``out``: the run directory (default ``runs/<timestamp>-<denoiser>-<descriptor>``).
    """
    from hpdesc.training import distribute
    from hpdesc.training.pipeline import provenance, run_training
    from hpdesc.validate import check_components

    reporter = _reporter(progress)
    sets = list(sets)
    if resume is not None:
        _refuse_settings_on_resume(config, sets, out, flags)
        run = RunDir(resume).check()
        cfg = C.resolve(run.config)
        distribute.setup(cfg.training)  # before any TensorFlow op (docs/scaling.md)
        if run.state().get("finished"):
            reporter.log(f"{run.path} already finished")
        _import_recorded(cfg)
        _drop_ignored_params(cfg, reporter)
        return distribute.train_here(cfg, run, run_training, reporter=reporter,
                                     max_epochs_this_session=max_epochs_this_session)
    # `denoiser=X` without `descriptor`: train the denoiser alone (unless a config or a set names a descriptor)
    if (flags.get("denoiser") is not None and flags.get("descriptor") is None and config is None
            and not any(s.split("=", 1)[0].strip() in ("descriptor", "descriptor.name") for s in sets)):
        flags["descriptor"] = "none"
    cfg = resolve_config(config, sets, **flags)
    cluster = distribute.setup(cfg.training)  # before any TensorFlow op (docs/scaling.md)
    if cluster.is_chief:  # only the chief writes; say now, not after the embedded dataset is built
        check_writable(out if out is not None else runs_root(), folder=True)
    entries = check_components(cfg)  # `--descriptor sift`, a bad parameter: one line, before anything is written
    from hpdesc.training.bench import check_baselines

    check_baselines(cfg)
    if not cfg.data.path:
        reporter.log("using the embedded dataset (built on first use)")
        reporter.start("building the embedded dataset", None)
        cfg.data.path = str(default_data_path(lambda d, t: reporter.advance(0)))
        reporter.done()
    data = Path(cfg.data.path)
    if not data.exists():
        raise UsageError(f"{data}: no such dataset file")
    cfg.data.path = str(data.resolve())
    from hpdesc.data.store import open_dataset

    with open_dataset(cfg.data.path) as ds:  # check split names before creating the run
        ds.split(cfg.data.split)
    cfg.provenance = provenance(cfg, entries)
    if not cluster.is_chief:  # only the chief writes the run directory
        return distribute.train_here(cfg, None, run_training, reporter=reporter,
                                     max_epochs_this_session=max_epochs_this_session)
    if out is not None:
        run = RunDir(out)
        if run.config.exists():
            raise UsageError(f"{run.path} already holds a run", hint=f"continue it with --resume {run.path} "
                             "or choose another --out")
        make_dirs(run.path)
    else:
        run = new_run_dir(cfg.denoiser.name, cfg.descriptor.name if cfg.trains_descriptor else "none")
    cfg.save(run.config)
    return distribute.train_here(cfg, run, run_training, reporter=reporter,
                                 max_epochs_this_session=max_epochs_this_session)


# -- runs -------------------------------------------------------------------------------------------
@dataclass
class LoadedRun:
    """A run's configuration and models (``descriptor`` is None for a denoiser-only run)."""

    run: RunDir
    config: C.RunConfig
    denoiser: Any
    descriptor: Any


def _import_recorded(cfg: C.RunConfig) -> None:
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
    _import_recorded(cfg)
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


def latest_run() -> Path:
    """The most recent run directory (``runs/latest``, else the newest)."""
    return _latest().path


# -- describe / denoise ----------------------------------------------------------------------------------
def _open_data(data):
    from hpdesc.data.store import open_dataset

    path = Path(data) if data is not None else default_data_path()
    return open_dataset(path)


def _sequences(ds, split: str | None) -> list[str]:
    """All sequences of ``ds``, or the test sequences of ``split``; none is a UsageError."""
    seqs = list(ds.sequences) if split is None else list(ds.split(split).get("test", []))
    if not seqs:
        raise UsageError(f"{ds.path}: split {split!r} has no test sequences")
    return seqs


def describe_run(run_dir, dataset, split: str | None = None, progress=None) -> Path:
    """Descriptors of the test sequences of ``split`` made with a run (cached in the run directory).

    ``dataset``: path or PatchDataset. Returns the descriptor file's path (``hpdesc.descriptors``).
    """
    from hpdesc.data.store import PatchDataset, open_dataset
    from hpdesc.inference.describe import describe_run_split

    lr = load_run(run_dir)
    if lr.descriptor is None:
        raise UsageError(f"{lr.run.path}: a denoiser-only run has no descriptor to benchmark")
    own = not isinstance(dataset, PatchDataset)
    ds = open_dataset(dataset) if own else dataset
    try:
        split = split or (lr.config.data.split if lr.config.data.split in ds.splits else sorted(ds.splits)[0])
        path, _ = describe_run_split(lr.run, lr.config, lr.denoiser, lr.descriptor, ds, split,
                                     reporter=_reporter(progress))
        return path
    finally:
        if own:
            ds.close()


def _check_describe_params(params: Mapping, run, denoiser: str | None, descriptor: str | None) -> None:
    """Parameters reach only a model picked by name; any other is refused (it would do nothing)."""
    for role, given in params.items():
        if role not in ("denoiser", "descriptor"):
            raise UsageError(f"describe takes denoiser and descriptor parameters, not {role!r}")
        name = denoiser if role == "denoiser" else descriptor
        if not given or (name is not None and name not in ("none", "identity")):
            continue
        if name is not None:
            why = f"the {role} is {name!r}, which takes no parameters"
        elif run is not None:
            why = f"the run's trained {role} is used as it is"
        else:
            why = f"no {role} is used"
        keys = ", ".join(f"{role}.{k}" for k in given)
        raise UsageError(f"{keys} cannot take effect: {why}",
                         hint=f"parameters apply to a {role} picked by name, "
                              f"e.g. --{role} NAME --set {role}.PARAM=VALUE")


def _set_params(sets: Iterable[str], params: Mapping | None = None) -> dict:
    """``params`` updated with ``["descriptor.root=true"]`` -> ``{"descriptor": {"root": True}}``."""
    from hpdesc.config import parse_set
    from hpdesc.errors import ConfigError

    out = {role: dict(given) for role, given in (params or {}).items()}
    for item in sets:
        key, value = parse_set(item)
        role, _, name = key.partition(".")
        if role not in ("denoiser", "descriptor") or not name:
            raise ConfigError(f"--set {item!r}: use denoiser.PARAM=VALUE or descriptor.PARAM=VALUE")
        out.setdefault(role, {})[name] = value
    return out


def describe(run=None, data=None, out=None, denoiser: str | None = None, descriptor: str | None = None,
             split: str | None = None, kind: str = "noisy", params: Mapping | None = None,
             sets: Iterable[str] = (), progress=None) -> Path:
    """Write descriptors of a dataset (all sequences, or the test sequences of ``split``).

    Models come from ``run`` (a run directory) or from the registry by name (``denoiser``,
    ``descriptor``, e.g. ``descriptor="sift"``; no denoiser by default); a name overrides the
    run's model of that role. ``kind``: which patches to read (``noisy`` or ``clean``).
    ``params``: ``{"descriptor": {...}, "denoiser": {...}}`` factory parameters for named models
    (a parameter for a model taken from the run, or for no model, is refused: it would do nothing);
    ``sets``: the same as ``"descriptor.PARAM=VALUE"`` strings (``--set``), applied after ``params``.
    """
    from hpdesc.inference.describe import descriptor_config, write_described
    from hpdesc.inference.pipeline import Pipeline
    from hpdesc.validate import build_checked

    if out is None:
        raise UsageError("describe needs an output file (--out FILE.h5)")
    params = _set_params(sets, params)
    _check_describe_params(params, run, denoiser, descriptor)
    den_model = desc_model = None
    den_name = desc_name = lr = None
    if run is not None:
        lr = load_run(run)
        den_model, desc_model = lr.denoiser, lr.descriptor
        den_name = lr.config.denoiser.name if den_model is not None else None
        desc_name = lr.config.descriptor.name if desc_model is not None else None
    elif descriptor is None:
        raise UsageError("describe needs --run RUN_DIR or --descriptor NAME (e.g. raw, sift)")
    if denoiser is not None:
        den_name = "identity" if denoiser in ("none", "identity") else denoiser
        den_model = None if den_name == "identity" else build_checked(
            "denoiser", denoiser, params.get("denoiser", {}))
    if descriptor is not None:  # checked: e.g. a dim that raw / sift cannot produce is refused
        desc_name = descriptor
        desc_model = build_checked("descriptor", descriptor, params.get("descriptor", {}))
    if desc_model is None:
        raise UsageError(f"{run}: the run has no descriptor (a denoiser-only run); use hpdesc denoise")
    if kind not in ("noisy", "clean"):
        raise UsageError(f"unknown patch kind {kind!r}; use noisy or clean")
    pipe = Pipeline(den_model, desc_model)
    # the run's components are the names it supplied a model for that no flag replaced
    from_run = [n for n, flag in ((den_name, denoiser), (desc_name, descriptor))
                if lr is not None and flag is None and n]
    with _open_data(data) as ds:
        seqs = _sequences(ds, split)
        config = descriptor_config(ds, split, desc_name, den_name, kind=kind, denoised=pipe.denoiser is not None,
                                   run=lr.run if lr is not None else None, from_run=from_run)
        return write_described(pipe, ds, seqs, out, config, _reporter(progress), kind=kind)


def denoise(run=None, data=None, out=None, split: str | None = None, denoiser: str | None = None,
            params: Mapping | None = None, sets: Iterable[str] = (), progress=None) -> dict:
    """Denoise a dataset's noisy patches into an ``hpdesc.denoised`` file.

    ``denoiser``: a registry denoiser by name (``nlmeans``, ``median``, ...) instead of a run's;
    ``params`` / ``sets`` (``"denoiser.h=12"``): its parameters (refused for a run's denoiser).
    Returns ``{"path": ..., "psnr": {"noisy": dB, "denoised": dB}}`` (PSNR against the clean
    patches of the input).
    """
    from hpdesc.inference.denoise import denoised_config, write_denoised_dataset
    from hpdesc.inference.pipeline import Pipeline

    if out is None:
        raise UsageError("denoise needs an output file (--out FILE.h5)")
    given = _denoiser_params(sets, params, "denoise")
    run_dir = None
    if denoiser is not None:
        model = _named_denoiser(denoiser, given)
    else:
        if given:
            keys = ", ".join(f"denoiser.{k}" for k in given)
            raise UsageError(f"{keys} cannot take effect: the run's trained denoiser is used as it is",
                             hint="parameters apply to a denoiser picked by name, e.g. --denoiser nlmeans --set denoiser.h=12")
        lr = load_run(run)
        if lr.denoiser is None:
            raise UsageError(f"{lr.run.path}: the run has no denoiser")
        model, run_dir = lr.denoiser, str(lr.run.path.resolve())
    pipe = Pipeline(model, None)
    with _open_data(data) as ds:
        seqs = _sequences(ds, split)
        config = denoised_config(ds, split, denoiser, run_dir)
        splits = ds.splits if split is None else {split: ds.split(split)}
        psnr = write_denoised_dataset(pipe, ds, seqs, out, config, _reporter(progress), splits=splits)
    return {"path": Path(out), "psnr": psnr}


def _denoiser_params(sets: Iterable[str], params: Mapping | None, command: str) -> dict:
    """The ``denoiser`` parameters of ``params`` / ``--set``; any other role is refused."""
    given = _set_params(sets, params)
    other = [role for role, v in given.items() if role != "denoiser" and v]
    if other:
        raise UsageError(f"{command} takes denoiser parameters only (--set denoiser.PARAM=VALUE), not {other[0]!r}")
    return dict(given.get("denoiser", {}))


def _named_denoiser(name: str, params: Mapping):
    """A registry denoiser built with ``params`` and checked (None for identity / none)."""
    from hpdesc.validate import build_checked

    if name in ("none", "identity"):
        if params:
            keys = ", ".join(f"denoiser.{k}" for k in params)
            raise UsageError(f"{keys} cannot take effect: the denoiser is {name!r}, which takes no parameters")
        return None
    return build_checked("denoiser", name, params)


def benchmark_denoise(denoisers: Iterable[str] = (), runs: Iterable = (), *, data=None, split: str | None = None,
                      params: Mapping | None = None, sets: Iterable[str] = (), ssim: bool = True,
                      json=None, markdown=None, plot=None, progress=None) -> list:
    """The denoising table (PSNR and SSIM vs clean per noise level, i_/v_, mean) of denoisers and runs.

    ``denoisers``: registry names (``nlmeans``, ``median``, ``identity``, a plugin's ``bm3d``);
    ``runs``: run directories (their trained denoiser); with neither, the latest run. ``data``:
    the patch dataset (default: the first run's, else the embedded one); ``split``: whose test
    sequences are scored (default: the run's split, else the dataset's first; a dataset without
    splits: all sequences). ``params`` ``{name: {...}}`` / ``sets`` (``"nlmeans.h=12"``, or
    ``"denoiser.h=12"`` with one named denoiser): parameters of the named denoisers. ``ssim``:
    False skips SSIM (faster). ``json``, ``markdown``, ``plot``: also write the table there
    (checked before anything is computed). Returns one
    :class:`~hpdesc.benchmark.denoising.DenoisingResult` per denoiser, in order (names first).
    """
    from hpdesc.benchmark import denoising as D
    from hpdesc.config import parse_set
    from hpdesc.inference.denoise import denoising_table

    outputs = [p for p in (json, markdown, plot) if p is not None]
    for target in outputs:
        check_writable(target)
    names, runs = list(denoisers), list(runs)
    if len(set(names)) < len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UsageError(f"denoiser {dup!r} is given twice; compare it with other settings by training runs, "
                         "or run the table once per setting")
    if not names and not runs:
        runs = [latest_run()]
    per: dict[str, dict] = {n: dict((params or {}).get(n, {})) for n in names}
    for role in (params or {}):
        if role not in per:
            raise UsageError(f"parameters for {role!r}, which is not one of the denoisers given ({', '.join(names) or 'none'})")
    for item in sets:
        key, value = parse_set(item)
        role, _, pname = key.partition(".")
        if role == "denoiser" and len(names) == 1:
            role = names[0]
        if role not in per or not pname:
            raise UsageError(f"--set {item!r}: use NAME.PARAM=VALUE for one of the denoisers given "
                             f"({', '.join(names) or 'none'}), or denoiser.PARAM=VALUE with one --denoiser")
        per[role][pname] = value
    models = [(n, _named_denoiser(n, per[n])) for n in names]  # every name checked before any work
    loaded = [load_run(r) for r in runs]
    for lr in loaded:
        if lr.denoiser is None:
            raise UsageError(f"{lr.run.path}: the run has no denoiser")
    if data is None and loaded:
        data = C.resolve(loaded[0].config).data.path
    labels = [n for n, _ in models] + [f"{lr.config.denoiser.name} [{lr.run.path.name}]" for lr in loaded]
    reporter = _reporter(progress)
    with _open_data(data) as ds:
        if split is None and ds.splits:
            mine = loaded[0].config.data.split if loaded else None
            split = mine if mine in ds.splits else sorted(ds.splits)[0]
        seqs = _sequences(ds, split)
        results = [denoising_table(m, ds, seqs, label, split, reporter, ssim=ssim)
                   for label, m in zip(labels, [m for _, m in models] + [lr.denoiser for lr in loaded])]
    if json is not None:
        D.write_json(results, json)
    if markdown is not None:
        D.write_markdown(results, markdown)
    if plot is not None:
        D.plot_bars(results, plot)
    return results


def _run_descriptors(run, data, split: str | None, reporter) -> Path:
    """Describe ``split`` with ``run`` (default: the latest run) on ``data`` (default: its dataset)."""
    if run is None:
        try:
            run = latest_run()
        except UsageError as exc:
            raise UsageError(f"nothing to benchmark: no --descriptors FILE given and no trained run found "
                             f"({exc.message})",
                             hint="train one with `hpdesc train`, or pass --descriptors FILE or --run RUN_DIR") from None
    if data is None:  # the dataset the run was trained on
        data = C.resolve(RunDir(run).check().config).data.path
    return describe_run(run, data, split, progress=reporter)


def benchmark(descriptors=None, *, run=None, data=None, split: str | None = None, tasks=None,
              protocol: str = "python", distance: str = "L2", tasks_dir=None, cache=True,
              memory: int | None = None, json=None, markdown=None, plot=None, progress=None):
    """Benchmark descriptor files, or a run (described first), on a split's test sequences (HPatches).

    The options of ``hpdesc benchmark``: ``descriptors``: a descriptor file, or a list of them
    (``--compare``). ``run``: a run directory whose models describe the split first (its result
    comes first); with no ``descriptors`` and no ``run``, the latest run. ``data``: the patch
    dataset (default: the one each file records; for a run, the one it trained on). ``split``:
    default the descriptor file's, else ``a``. ``tasks``: some of verification, matching,
    retrieval (default all). ``protocol``: ``python`` or ``paper``; ``distance``: ``L2`` or
    ``L1``; ``tasks_dir``: a folder of official ``verif_*.csv`` / ``retr_*.csv`` task files;
    ``cache``: True (default cache folder), a folder, or False (neither read nor write cached
    results). ``memory``: bytes of descriptors held at once (default 1 GiB). ``json``,
    ``markdown``, ``plot``: also write the results there (checked before anything is evaluated).
    ``progress``: a :class:`hpdesc.progress.Reporter` (one bar per task computed).

    Returns a :class:`~hpdesc.benchmark.evaluate.BenchmarkResult`, or a list of them (in order)
    when ``descriptors`` is a list or a run is benchmarked next to a file.
    """
    from hpdesc.benchmark.evaluate import evaluate

    outputs = [p for p in (json, markdown, plot) if p is not None]
    for target in outputs:  # before the evaluation, not after it
        check_writable(target)
    if memory is not None and not memory > 0:
        raise UsageError(f"memory must be a positive number of bytes, got {memory!r}")
    many = isinstance(descriptors, (list, tuple))
    files = list(descriptors) if many else [] if descriptors is None else [descriptors]
    reporter = _reporter(progress)
    if run is not None or not files:
        files.insert(0, _run_descriptors(run, data, split, reporter))
    results = [evaluate(f, data, tasks=tuple(tasks) if tasks else C.TASKS, split=split, protocol=protocol,
                        distance=distance, tasks_dir=tasks_dir, cache=cache, memory=memory, reporter=reporter)
               for f in files]
    if outputs:
        from hpdesc.benchmark import report

        if json is not None:
            report.write_json(results if len(results) > 1 else results[0], json)
        if markdown is not None:
            report.write_markdown(results, markdown, breakdown=True)
        if plot is not None:
            report.plot_bars(results, plot)
    return results if many or len(results) > 1 else results[0]


__all__ = ["train", "describe", "denoise", "benchmark", "benchmark_denoise", "describe_run", "load_run", "latest_run",
           "resolve_config", "LoadedRun"]
