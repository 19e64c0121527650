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

from pathlib import Path
from typing import Callable, Iterable, Mapping

from hpdesc import config as C
from hpdesc.atomic import check_writable, make_dirs
from hpdesc.errors import UsageError
from hpdesc.training.load import LoadedRun
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
    "init": "training.init",
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
    ``distribute`` (``none``, ``mirrored``, ``multi-worker``: docs/scaling.md), ``init`` (initial
    weights: a run directory, a ``.keras`` file or a PyTorch HardNet ``.pth``; docs/interop.md).
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
    from hpdesc.training import init as _init

    init = _init.prepare(cfg)  # --init: a .pth sets the hardnet parameters it needs
    entries = check_components(cfg)  # `--descriptor sift`, a bad parameter: one line, before anything is written
    if init is not None:
        _init.check(cfg, init)
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
    if init is not None:
        cfg.provenance["init_sha256"] = init.sha256()
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
def _import_recorded(cfg: C.RunConfig) -> None:
    """Check a run's recorded components are installed and import them (custom layers register)."""
    from hpdesc.training.load import import_recorded

    import_recorded(cfg)


def load_model(path):
    """Load a saved hpdesc model (a run's ``denoiser.keras`` / ``descriptor.keras``) as a Keras model.

    Registers hpdesc's layers and imports the plugins the model needs first: the components a run
    recorded when the file is in a run directory (a missing plugin is a PluginError naming the
    distribution to install), else every installed denoiser and descriptor plugin. The model comes
    back as saved (a run's default precision computes in bfloat16).
    """
    from hpdesc.training.load import load_model as _load

    return _load(path)


def load_weights(model, path):
    """Fill a built ``model`` with the weights in ``path``; returns ``model`` (docs/interop.md).

    ``path``: a PyTorch HardNet / SOSNet checkpoint (``.pth``: kornia's or the original HardNet
    repository's layout; needs torch, ``pip install "hpdesc[interop]"``) for hpdesc's ``hardnet``
    built with the parameters the checkpoint needs (``hpdesc.models.torchmap.hardnet_params``), a
    ``.keras`` file, or a run directory (the model of the same stage). ``hpdesc train --init PATH``
    uses the same resolver.
    """
    from hpdesc.training.init import load_weights as _load

    return _load(model, path)


def load_run(run_dir=None) -> LoadedRun:
    """Load a run's config and models (default: the latest run)."""
    from hpdesc.training.load import load_run as _load

    return _load(run_dir)


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


def export(run=None, what: str | None = None, format: str = "onnx", out=None, progress=None):
    """Export a run's trained models as a float32 ONNX file or TensorFlow SavedModel, with a model card.

    ``run``: the run directory (default: the latest run). ``what``: ``descriptor``, ``denoiser``
    or ``pipeline`` (denoiser -> uint8 rounding -> descriptor in one graph; the default for a run
    with a descriptor, else ``denoiser``). ``format``: ``onnx`` (needs ``pip install
    "hpdesc[export]"``) or ``saved_model``. ``out``: the export folder (default
    ``RUN/export/<what>-<format>``; an earlier export there is replaced), which receives
    ``model.onnx`` or the SavedModel's files, and ``MODEL.md``. The graph takes ``patches``
    float32 ``(B, 32, 32, 1)`` in [0, 1]. Returns an :class:`hpdesc.export.ExportResult`
    (docs/deploying.md).
    """
    from hpdesc.export import check_format, check_what, export_run, require_exporters

    check_format(format)  # a typo, a missing extra: one line before the run's models load
    if what is not None:
        check_what(what)
    require_exporters(format)
    lr = load_run(run)
    reporter = _reporter(progress)
    _drop_ignored_params(lr.config, reporter)
    return export_run(lr.run.path, lr.config, lr.denoiser, lr.descriptor, what=what, fmt=format, out=out,
                      reporter=reporter)


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


NOISE_CHOICES = ("none", "e", "h", "t")


def _as_list(x) -> list:
    return [] if x is None else list(x) if isinstance(x, (list, tuple)) else [x]


def _compare_kind(item, first_sequence: Path) -> str:
    """What a ``--compare`` item is: ``run`` (an existing folder), ``features`` (``1.<ext>.<item>`` files
    exist in the first sequence) or ``descriptor`` (a descriptor name, checked when it is built)."""
    from hpdesc.data.sequences import image_file
    from hpdesc.matching.features import feature_path

    if not isinstance(item, str):
        return "run"
    if Path(item).is_dir():
        return "run"
    if "/" in item or "\\" in item:  # a path, not a name: a run folder that is not there
        raise UsageError(f"--compare {item}: no such run folder")
    if feature_path(image_file(first_sequence, 1), item).is_file():
        return "features"
    return "descriptor"


def image_methods(seq_dir, *, features=(), run=(), descriptor=(), compare=()) -> tuple[list[str], list[Path], list[str]]:
    """``(feature methods, runs, descriptors)`` of :func:`benchmark_images`, with each ``compare`` item
    sorted in: an existing folder is a run, a name with feature files beside image 1 of the first
    sequence is precomputed features, anything else a descriptor name."""
    from hpdesc.data.sequences import find_sequences

    feature_methods = [str(m) for m in _as_list(features)]
    runs, descs = [Path(r) for r in _as_list(run)], [str(d) for d in _as_list(descriptor)]
    items = _as_list(compare)
    first = find_sequences(seq_dir)[0] if items else None
    for item in items:
        kind = _compare_kind(item, first)
        if kind == "run":
            runs.append(Path(item))
        else:
            (feature_methods if kind == "features" else descs).append(str(item))
    return feature_methods, runs, descs


def benchmark_images(seq_dir, *, features=(), run=(), descriptor=(), extractors=(), compare=(),
                     detector: str | None = None, max_keypoints: int | None = None, noise: str | None = None,
                     sets: Iterable[str] = (), seed: int | None = None, d2net_subset: bool = False,
                     json=None, plot=None, progress=None) -> list:
    """Image matching on an ``hpatches-sequences-release`` folder: MMA and homography accuracy per method.

    The options of ``hpdesc benchmark images``. Methods, in this order: ``features``: names of
    precomputed feature files (``<image>.<method>`` beside the images, the D2-Net ``.npz``
    format); ``run``: run directories and ``descriptor``: descriptor names, whose features are
    computed here by ``hpdesc.matching.extract.make_extractor`` with ``detector`` (default
    ``sift``), ``max_keypoints`` (default 2048), ``noise`` (``none``/``e``/``h``/``t``: the
    level's noise added to the whole images before detection), ``sets`` (``KEY=VALUE`` component
    parameters) and ``seed``; ``extractors``: objects with ``.name`` and ``__call__(image) ->
    Features`` (used as they are); ``compare``: more methods, each an existing folder (a run), a
    name with feature files in the first sequence (precomputed) or else a descriptor name. Each
    setting applies to features computed here: with none computed, giving one is an error.
    ``d2net_subset``: leave out the 8 sequences D2-Net drops (said in the notes). ``json``,
    ``plot`` (PNG of the MMA curves): also write there (checked before any work). Each a single
    value or a list. Returns one :class:`~hpdesc.matching.evaluate.ImageMatchingResult` per method.
    """
    from hpdesc.matching import evaluate as E

    for target in (json, plot):
        if target is not None:
            check_writable(target)
    folders, _dropped = E.select_sequences(seq_dir, d2net_subset)
    feature_methods, runs, descs = image_methods(seq_dir, features=features, run=run, descriptor=descriptor,
                                                 compare=compare)
    given = _as_list(extractors)
    if not (feature_methods or runs or descs or given):
        raise UsageError("nothing to benchmark: give --features METHOD, --run RUN or --descriptor NAME",
                         hint="e.g. hpdesc benchmark images seqs --descriptor sift")
    settings = {"--detector": detector, "--max-keypoints": max_keypoints, "--noise": noise, "--seed": seed,
                "--set": list(sets) or None}
    if not (runs or descs):
        for flag, value in settings.items():
            if value is not None:
                why = ("precomputed --features cannot be re-noised" if flag == "--noise"
                       else "it applies to features computed here")
                raise UsageError(f"{flag} needs --run or --descriptor: {why}",
                                 hint="compute features with hpdesc (--run RUN / --descriptor NAME) to use it")
    if noise is not None and noise not in NOISE_CHOICES:
        raise UsageError(f"unknown noise level {noise!r}; use one of {', '.join(NOISE_CHOICES)}")
    if max_keypoints is not None and int(max_keypoints) < 1:
        raise UsageError(f"--max-keypoints must be at least 1, got {max_keypoints}")
    E.check_inputs(folders, feature_methods + given)  # missing images, H_1_k or feature files: before any work

    built = []
    if runs or descs:
        try:
            from hpdesc.matching.extract import make_extractor
        except ModuleNotFoundError as exc:
            if exc.name != "hpdesc.matching.extract":
                raise
            raise PluginError("computing keypoint features (--run / --descriptor) needs hpdesc.matching.extract, "
                              "which this installation lacks", hint="benchmark precomputed --features files") from None
        kw = {"detector": detector or "sift", "max_keypoints": 2048 if max_keypoints is None else int(max_keypoints),
              "sets": tuple(sets), "noise": None if noise in (None, "none") else noise, "seed": 0 if seed is None else int(seed)}
        built = [make_extractor(run=r, **kw) for r in runs] + [make_extractor(descriptor=d, **kw) for d in descs]
    methods = feature_methods + built + given
    reporter = _reporter(progress)
    results = [E.evaluate(seq_dir, m, d2net_subset=d2net_subset, reporter=reporter, check=False) for m in methods]
    if noise not in (None, "none"):
        for r, m in zip(results, methods):
            if any(m is b for b in built):
                r.notes.append(f"noise level {noise!r} added to the whole images before detection")
    names = [r.method for r in results]
    for r in results:  # the same name twice (sift features files and the sift descriptor): say which is which
        if names.count(r.method) > 1:
            r.method = f"{r.method} ({r.source})"
    if json is not None or plot is not None:
        from hpdesc.matching import report

        if json is not None:
            report.write_json(results, json)
        if plot is not None:
            report.plot_mma(results, plot)
    return results


# -- the image path: keypoint features, matching two images ----------------------------------------
def _image_list(images) -> list[Path]:
    items = [images] if isinstance(images, (str, Path)) else list(images)
    if not items:
        raise UsageError("no images given")
    return [Path(p) for p in items]


def _read_image(path: Path):
    """A grey float32 image; a missing or unreadable file is one line naming it."""
    from hpdesc.data.sequences import read_image
    from hpdesc.errors import DataFormatError

    if not path.is_file():
        raise UsageError(f"{path}: no such image file")
    img = read_image(path)
    if img.ndim != 2 or min(img.shape) < 1:
        raise DataFormatError(f"{path}: not a usable image (shape {img.shape})")
    return img


def _read_images(paths: list[Path]) -> None:
    """Read every image once before any work, so a bad one stops the command with nothing written."""
    for p in paths:
        _read_image(p)


def _extractor(run, descriptor, detector, max_keypoints, sets, noise, seed, whole_image):
    from hpdesc.matching.extract import make_extractor

    if (run is None) == (descriptor is None):  # before loading anything
        raise UsageError("give exactly one of --run RUN_DIR and --descriptor NAME",
                         hint="e.g. --descriptor sift, or --run runs/<run>")
    return make_extractor(run=load_run(run) if run is not None else None, descriptor=descriptor,
                          detector=detector, max_keypoints=max_keypoints, sets=sets, noise=noise, seed=seed,
                          whole_image=whole_image)


def features(images, *, run=None, descriptor: str | None = None, detector: str = "sift",
             max_keypoints: int = 2048, out=None, noise: str | None = None, seed: int = 0,
             sets: Iterable[str] = (), whole_image: bool | None = None, progress=None) -> dict:
    """Keypoint features of images, one D2-Net ``.npz`` file ``<image>.<method>`` per image.

    ``images``: a path or a list of them. ``run`` (a run directory) or ``descriptor`` (a registered
    name: ``sift``, ``raw``, a plugin's; ``sets``: its ``descriptor.PARAM=VALUE``): exactly one.
    ``detector``: ``sift``, ``orb``, ``akaze``; ``max_keypoints``: the strongest kept. ``out``: a
    folder for the files (default: beside each image). ``noise``: ``e`` / ``h`` / ``t`` adds
    hpdesc's noise to each image before detection (seeded by ``seed``). ``whole_image``: see
    :func:`hpdesc.matching.extract.make_extractor`. Every image is read before anything is
    written. Returns ``{"name", "method", "files": [{"image", "path", "keypoints", "dim"}],
    "notes", "timings"}``.
    """
    from hpdesc.matching.features import feature_path, save_features

    paths = _image_list(images)
    if out is not None:
        check_writable(out, folder=True)
        seen: dict[str, Path] = {}
        for p in paths:  # seqs/i_a/1.ppm and seqs/v_b/1.ppm would both write OUT/1.ppm.<method>
            if p.name in seen and seen[p.name].resolve() != p.resolve():
                raise UsageError(f"{seen[p.name]} and {p} would both write {Path(out) / p.name}.<method>",
                                 hint="leave out --out to write each file beside its image")
            seen[p.name] = p
    _read_images(paths)
    ext = _extractor(run, descriptor, detector, max_keypoints, sets, noise, seed, whole_image)
    reporter = _reporter(progress)
    reporter.start(f"features ({ext.name})", len(paths))
    rows, notes = [], []
    for p in paths:
        feats = ext(_read_image(p))
        if not len(feats):
            notes.append(f"{p}: no keypoints found (an empty feature file was written)")
        target = save_features(feature_path(p, ext.method, out), feats)
        rows.append({"image": p, "path": target, "keypoints": len(feats), "dim": feats.dim})
        reporter.advance(1)
    reporter.done()
    return {"name": ext.name, "method": ext.method, "files": rows, "notes": notes, "timings": dict(ext.timings)}


def match(image1, image2, *, run=None, descriptor: str | None = None, detector: str = "sift",
          max_keypoints: int = 2048, ratio: float | None = None, threshold: float = 3.0,
          noise: str | None = None, seed: int = 0, sets: Iterable[str] = (), whole_image: bool | None = None,
          out=None, json=None, progress=None) -> dict:
    """Match two images: keypoint features, mutual nearest neighbours, a robust homography.

    Models and detection as in :func:`features`. ``ratio``: also apply Lowe's ratio test (e.g.
    0.8). The homography comes from ``cv2.findHomography(..., cv2.USAC_MAGSAC, threshold)``
    (pixels). ``out``: a PNG of the two images side by side, inlier matches green, the others red;
    ``json``: keypoints, matches, inlier mask and H. Zero keypoints or matches is a result (with
    a note), not an error. Returns ``{"name", "keypoints": (n1, n2), "matches", "inliers", "H",
    "notes", "features": (Features, Features), "match": {...}}``.
    """
    import numpy as np

    from hpdesc.atomic import write_json_atomic
    from hpdesc.matching.match import HOMOGRAPHY_METHOD, match_pair

    if ratio is not None and not 0.0 < float(ratio) <= 1.0:
        raise UsageError(f"ratio must be in (0, 1], got {ratio}")
    if not float(threshold) > 0:
        raise UsageError(f"threshold must be a positive number of pixels, got {threshold}")
    for target in (out, json):
        if target is not None:
            check_writable(target)
    paths = [Path(image1), Path(image2)]
    images = [_read_image(p) for p in paths]
    ext = _extractor(run, descriptor, detector, max_keypoints, sets, noise, seed, whole_image)
    f1, f2 = (ext(img) for img in images)
    res = match_pair(f1, f2, ratio, threshold)
    m, inl, H = res["matches"], res["inliers"], res["H"]
    notes = [f"{p}: no keypoints found" for p, f in zip(paths, (f1, f2)) if not len(f)]
    if not len(m):
        notes.append("no matches: nothing to estimate a homography from")
    elif H is None:
        notes.append(f"no homography: {len(m)} matches, at least 4 needed" if len(m) < 4
                     else "no homography: the robust estimator found none")
    if out is not None:
        from hpdesc.matching.draw import draw_matches, write_png

        shown = [ext.input_image(img) for img in images]  # what the detector saw (with --noise)
        write_png(out, draw_matches(shown[0], shown[1], f1.keypoints, f2.keypoints, m, inl, title=ext.name))
    if json is not None:
        write_json_atomic(json, {
            "image1": str(paths[0]), "image2": str(paths[1]), "method": ext.name,
            "detector": detector, "max_keypoints": int(max_keypoints), "noise": noise, "ratio": ratio,
            "estimator": HOMOGRAPHY_METHOD, "threshold": float(threshold),
            "keypoints1": f1.keypoints.tolist(), "keypoints2": f2.keypoints.tolist(),
            "matches": m.tolist(), "inliers": inl.astype(bool).tolist(),
            "H": None if H is None else np.asarray(H).tolist(), "notes": notes})
    return {"name": ext.name, "keypoints": (len(f1), len(f2)), "matches": int(len(m)), "inliers": int(inl.sum()),
            "H": H, "notes": notes, "features": (f1, f2), "match": res, "timings": dict(ext.timings)}


__all__ = ["train", "describe", "denoise", "benchmark", "benchmark_denoise", "benchmark_images", "image_methods",
           "features", "match", "describe_run", "load_model", "load_run", "latest_run", "export",
           "resolve_config", "LoadedRun"]
