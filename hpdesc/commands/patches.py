"""The patch-dataset commands behind the API: describe, denoise, the denoising table of denoisers and runs.

Each takes the API's arguments already mapped (paths, names, ``{role: {param: value}}``) and
checks them here, once: a parameter that would do nothing is refused, every name is built
(and so checked) before any work. Runs are loaded with :func:`hpdesc.training.load.load_run`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from hpdesc.atomic import refuse_inputs
from hpdesc.config import parse_role_sets
from hpdesc.errors import UsageError
from hpdesc.inference.datasets import open_data, split_sequences
from hpdesc.progress import Reporter
from hpdesc.training.run import default_run, run_inputs

_ROLE_HINT = "use denoiser.PARAM=VALUE or descriptor.PARAM=VALUE"


def describe_run(run_dir, dataset, split: str | None, reporter: Reporter) -> Path:
    """Descriptors of the test sequences of ``split`` made with a run (cached), as :func:`hpdesc.api.describe_run`."""
    from hpdesc.data.store import PatchDataset, default_split, open_dataset
    from hpdesc.inference.describe import describe_run_split
    from hpdesc.training.load import load_run

    lr = load_run(run_dir)
    if lr.descriptor is None:
        raise UsageError(f"{lr.run.path}: a denoiser-only run has no descriptor to benchmark")
    own = not isinstance(dataset, PatchDataset)
    ds = open_dataset(dataset) if own else dataset
    try:
        split = split or default_split(ds.splits, lr.config.data.split)
        return describe_run_split(lr.run, lr.config, lr.denoiser, lr.descriptor, ds, split, reporter=reporter)
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


def describe(run, data, out, denoiser: str | None, descriptor: str | None, split: str | None, kind: str,
             params: Mapping | None, sets: Iterable[str], reporter: Reporter) -> Path:
    """:func:`hpdesc.api.describe` (its docstring has the arguments)."""
    from hpdesc.inference.describe import descriptor_config, write_described
    from hpdesc.inference.pipeline import Pipeline
    from hpdesc.training.load import load_run
    from hpdesc.validate import build_checked

    if out is None:
        raise UsageError("describe needs an output file (--out FILE.h5)")
    refuse_inputs([out], [data, *run_inputs(run)])
    params = parse_role_sets(sets, ("denoiser", "descriptor"), _ROLE_HINT, params)
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
        den_model = None if den_name == "identity" else build_checked("denoiser", denoiser, params.get("denoiser", {}))
    if descriptor is not None:  # checked: e.g. a dim that raw / sift cannot produce is refused
        desc_name = descriptor
        desc_model = build_checked("descriptor", descriptor, params.get("descriptor", {}))
    if desc_model is None:
        raise UsageError(f"{run}: the run has no descriptor (a denoiser-only run); use hpdesc denoise")
    if kind not in ("noisy", "clean"):
        raise UsageError(f"unknown patch kind {kind!r}; use noisy or clean")
    pipe = Pipeline(den_model, desc_model)
    # the run's components are the names it supplied a model for that no flag replaced
    from_run = [n for n, flag in ((den_name, denoiser), (desc_name, descriptor)) if lr is not None and flag is None and n]
    with open_data(data, reporter) as ds:
        seqs = split_sequences(ds, split)
        config = descriptor_config(ds, split, desc_name, den_name, kind=kind, denoised=pipe.denoiser is not None,
                                   run=lr.run if lr is not None else None, from_run=from_run)
        return write_described(pipe, ds, seqs, out, config, reporter, kind=kind)


def named_denoiser(name: str, params: Mapping):
    """A registry denoiser built with ``params`` and checked (None for identity / none)."""
    from hpdesc.validate import build_checked

    if name in ("none", "identity"):
        if params:
            keys = ", ".join(f"denoiser.{k}" for k in params)
            raise UsageError(f"{keys} cannot take effect: the denoiser is {name!r}, which takes no parameters")
        return None
    return build_checked("denoiser", name, params)


def denoise(run, data, out, split: str | None, denoiser: str | None, params: Mapping | None,
            sets: Iterable[str], reporter: Reporter) -> dict:
    """:func:`hpdesc.api.denoise` (its docstring has the arguments)."""
    from hpdesc.inference.denoise import denoised_config, write_denoised_dataset
    from hpdesc.inference.pipeline import Pipeline
    from hpdesc.training.load import load_run

    if out is None:
        raise UsageError("denoise needs an output file (--out FILE.h5)")
    given = parse_role_sets(sets, ("denoiser", "descriptor"), _ROLE_HINT, params)
    other = [role for role, v in given.items() if role != "denoiser" and v]
    if other:
        raise UsageError(f"denoise takes denoiser parameters only (--set denoiser.PARAM=VALUE), not {other[0]!r}")
    given = dict(given.get("denoiser", {}))
    run_dir = run_denoiser = None
    if denoiser is not None:
        model = named_denoiser(denoiser, given)
    else:
        if given:
            keys = ", ".join(f"denoiser.{k}" for k in given)
            raise UsageError(f"{keys} cannot take effect: the run's trained denoiser is used as it is",
                             hint="parameters apply to a denoiser picked by name, e.g. --denoiser nlmeans --set denoiser.h=12")
        lr = load_run(default_run(run, reporter))
        if lr.denoiser is None:
            raise UsageError(f"{lr.run.path}: the run has no denoiser")
        model, run_dir, run_denoiser = lr.denoiser, str(lr.run.path.resolve()), lr.config.denoiser.name
    refuse_inputs([out], [data, *run_inputs(run_dir)])
    with open_data(data, reporter) as ds:
        seqs = split_sequences(ds, split)
        config = denoised_config(ds, split, denoiser, run_dir, run_denoiser)
        splits = ds.splits if split is None else {split: ds.split(split)}
        psnr = write_denoised_dataset(Pipeline(model, None), ds, seqs, out, config, reporter, splits=splits)
    return {"path": Path(out), "psnr": psnr}


def denoising_tables(denoisers: Iterable[str], runs: Iterable, data, split: str | None, params: Mapping | None,
                     sets: Iterable[str], ssim: bool, reporter: Reporter) -> list:
    """:func:`hpdesc.api.evaluate_denoising`'s tables (its docstring has the arguments), nothing written."""
    from hpdesc import config as C
    from hpdesc.data.store import default_split
    from hpdesc.inference.denoise import denoising_table
    from hpdesc.training.load import load_run
    names, runs = list(denoisers), list(runs)
    if len(set(names)) < len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise UsageError(f"denoiser {dup!r} is given twice; compare it with other settings by training runs, "
                         "or run the table once per setting")
    if not names and not runs:
        runs = [default_run(None, reporter)]
    for role in (params or {}):
        if role not in names:
            raise UsageError(f"parameters for {role!r}, which is not one of the denoisers given ({', '.join(names) or 'none'})")
    alias = ("denoiser",) if len(names) == 1 else ()  # denoiser.PARAM with one named denoiser
    per = parse_role_sets(sets, (*names, *alias), f"use NAME.PARAM=VALUE for one of the denoisers given "
                          f"({', '.join(names) or 'none'}), or denoiser.PARAM=VALUE with one --denoiser", params)
    if alias and "denoiser" in per:
        per.setdefault(names[0], {}).update(per.pop("denoiser"))
    models = [(n, named_denoiser(n, per.get(n, {}))) for n in names]  # every name checked before any work
    loaded = [load_run(r) for r in runs]
    for lr in loaded:
        if lr.denoiser is None:
            raise UsageError(f"{lr.run.path}: the run has no denoiser")
    if data is None and loaded:
        data = C.resolve(loaded[0].config).data.path
    labels = [n for n, _ in models] + [f"{lr.config.denoiser.name} [{lr.run.path.name}]" for lr in loaded]
    with open_data(data, reporter) as ds:
        if split is None and ds.splits:
            split = default_split(ds.splits, loaded[0].config.data.split if loaded else None)
        seqs = split_sequences(ds, split)
        return [denoising_table(m, ds, seqs, label, split, reporter, ssim=ssim)
                for label, m in zip(labels, [m for _, m in models] + [lr.denoiser for lr in loaded])]


__all__ = ["denoise", "denoising_tables", "describe", "describe_run", "named_denoiser"]
