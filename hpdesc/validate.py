"""Checks that catch a broken component before training starts, or before a saved run loads.

:func:`build_checked` builds a component and tries it once on a tiny dummy batch, so a plugin
that returns the wrong type or shape or non-finite values fails in a second with one line naming
the plugin and what it broke. :func:`check_components` runs those checks over a whole run
configuration (``hpdesc train`` and each sweep combination). :func:`check_run_components` is the
reload side: every distribution a saved run recorded is installed and its entry points imported
(which registers the custom layers the saved models need; plugin contract, "Saved runs").

The checks follow docs/plugins.md and the plugin contract; only registry errors (import and
parameter errors, already one line) pass through unchanged.
"""

from __future__ import annotations

import json
import logging
import warnings
from importlib import metadata
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from hpdesc import registry
from hpdesc.errors import HpdescError, PluginError, UsageError
from hpdesc.registry import Entry

log = logging.getLogger(__name__)

BATCH = 2
"""Dummy batch size for model checks (small: the check runs before every training)."""

LOSS_BATCH = 4
"""Dummy batch size for loss checks (in-batch-mining descriptor losses need a few rows)."""

RESERVED = {
    "denoiser": ("input_shape",),
    "descriptor": ("input_shape",),
    "denoiser_loss": (),
    "descriptor_loss": (),
    "optimizer": (),
}
"""Parameters hpdesc itself passes; a user setting them would contradict the data."""

# Config sections (see hpdesc.config.COMPONENTS) that are not registry kinds.
_SECTION_KIND = {"denoiser_optimizer": "optimizer", "descriptor_optimizer": "optimizer"}


def _who(entry: Entry) -> str:
    """``denoiser 'ffdnet' from hpdesc-ffdnet 1.0.0 (hpdesc_ffdnet.ffdnet:ffdnet)``."""
    return entry.describe()


def _hint(entry: Entry) -> str:
    return entry.failure_hint()


def _broke(entry: Entry, what: str) -> PluginError:
    return PluginError(f"{_who(entry)} {what}", hint=_hint(entry))


def _type_name(obj: Any) -> str:
    t = type(obj)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


# -- building and checking ----------------------------------------------------------------


def build_checked(kind: str, name: str, params: Mapping[str, Any] | None = None,
                  input_shape: tuple[int, int, int] = (32, 32, 1), dim: int = 128,
                  learning_rate: float = 1e-3) -> Any:
    """Build component ``name`` of ``kind`` with the user's ``params`` and check it obeys the contract.

    Builds through :func:`hpdesc.registry.build` with what the contract passes
    (``input_shape`` for models, ``dim`` for descriptors, ``learning_rate`` for optimizers unless
    ``params`` sets it), then :func:`check` s the result. Returns the built component.

    Raises:
        UnknownComponentError / UsageError: unknown or ambiguous name, rejected parameter
            (from the registry, one line).
        PluginError: the plugin failed to import, failed while building, returned the wrong
            type, or its model / loss misbehaved on a dummy batch; the message names the
            distribution, version and entry point.
    """
    return _build_and_check(kind, name, params, input_shape, dim, learning_rate)[0]


def _build_and_check(kind: str, name: str, params: Mapping[str, Any] | None, input_shape: tuple[int, int, int],
                     dim: int, learning_rate: float) -> tuple[Any, tuple[int, ...] | None]:
    """:func:`build_checked`, also returning a model's output shape on the dummy batch (None otherwise)."""
    entry = registry.get(kind, name)
    params = dict(params or {})
    clash = [k for k in RESERVED[kind] if k in params]
    if clash:
        raise UsageError(f"{kind.replace('_', ' ')} parameter {clash[0]!r} is set by hpdesc from the data "
                         f"and cannot be set by hand", hint=f"remove {kind}.{clash[0]} from --set / the config")
    args: dict[str, Any] = {}
    if kind in ("denoiser", "descriptor"):
        args["input_shape"] = tuple(input_shape)
    given_dim = kind == "descriptor" and "dim" in params
    if kind == "descriptor":
        dim = params.pop("dim", dim)
        args["dim"] = dim
    if kind == "optimizer":
        args["learning_rate"] = params.pop("learning_rate", learning_rate)
    obj = registry.build(kind, name, **args, **params)  # its errors are one line already
    shape = check(entry, obj, input_shape=input_shape, dim=dim)
    if given_dim and shape[-1] != dim:  # a descriptor may take dim (the contract passes it) but fix its width
        raise UsageError(f"descriptor {name!r} outputs {shape[-1]}-d descriptors, so dim={dim} cannot take effect",
                         hint=f"remove descriptor.dim; {name}'s own parameters set its width "
                              f"(its docstring: `hpdesc plugins --kind descriptor`)")
    return obj, shape


def trained_sections(cfg) -> tuple[str, ...]:
    """The model slots ``hpdesc train`` must train for ``cfg``: the descriptor when there is one, else
    the denoiser (a weightless denoiser in front of a descriptor, or a weightless descriptor behind a
    trained denoiser, is a fixed stage; :func:`check_components`)."""
    return ("descriptor",) if cfg.trains_descriptor else ("denoiser",)


def ensure_built(model, input_shape: tuple[int, int, int] = (32, 32, 1)):
    """``model`` with its weights made: a subclassed model makes them on its first call only.

    Until then it has no trainable weights and would look untrainable. A model that fails on the
    dummy batch is returned as it is: :func:`build_checked` reports that failure.
    """
    if getattr(model, "built", True) is False:
        try:
            model(np.zeros((1, *input_shape), np.float32), training=False)
        except Exception:  # noqa: BLE001 - reported by build_checked with the plugin's name
            pass
    return model


def check_trainable(cfg, section: str, model) -> None:
    """Raise a UsageError if ``model`` fills a slot ``hpdesc train`` must train but has nothing to train.

    The rule is the pipeline's: a model is trainable when it has trainable weights
    (:func:`hpdesc.models.is_trainable`, after :func:`ensure_built`); ``sift``, ``raw``,
    ``identity`` and frozen models have none.
    """
    from hpdesc.models import is_trainable

    if section not in trained_sections(cfg) or is_trainable(ensure_built(model)):
        return
    name = cfg.component(section).name
    if section == "descriptor":
        raise UsageError(f"{name} is not trainable; use hpdesc describe --descriptor {name}",
                         hint=f"{name} has no weights to train; to train a descriptor, pick one that has "
                              "(see `hpdesc plugins --kind descriptor`)")
    raise UsageError(f"{name} is not trainable; use hpdesc denoise --denoiser {name}",
                     hint=f"a denoiser without weights is only the fixed input of a trained descriptor "
                          f"(e.g. --denoiser {name} --descriptor hardnet)")


def check_components(cfg, *, cache: dict | None = None,
                     on_error: Callable[[str, HpdescError], None] | None = None) -> dict[str, dict]:
    """Check every component of run config ``cfg`` as ``hpdesc train`` needs it (train and sweeps).

    Before anything is written: descriptor-stage settings of a run without a descriptor are
    refused; each component is built once with the user's parameters and tried on a dummy batch
    (:func:`build_checked`); a model that must train but cannot (:func:`check_trainable`), a
    weightless descriptor with nothing trainable in front (:func:`hpdesc.config.check_fixed_descriptor`)
    and a loss / optimizer for a weightless model are refused; the descriptor loss is tried at the
    descriptor's real width. ``cache``: kept across calls (a sweep) so a component checked in the
    same role is not built again. ``on_error(section, exc)``: called for the failing section (to
    re-raise with a location). Returns ``{section: entry dict}`` (name, entry point, distribution,
    version) for the run's provenance.
    """
    from hpdesc import config as C
    from hpdesc.models import is_trainable

    C.check_descriptor_settings(cfg)
    trained = trained_sections(cfg)
    out: dict[str, dict] = {}
    trains: dict[str, bool] = {}  # section -> has weights (denoiser, descriptor)
    dim = 128  # what the contract passes a descriptor; then the width the descriptor gives
    # the trained model, then the denoiser (a weightless descriptor needs a trainable one), then the rest
    for section in sorted(C.COMPONENTS, key=lambda sec: (sec not in trained, sec != "denoiser")):
        kind = C.COMPONENTS[section]
        if section.startswith("descriptor") and not cfg.trains_descriptor:
            continue
        comp = cfg.component(section)
        key = json.dumps([section, comp.to_dict(), section in trained, dim if kind == "descriptor_loss" else None,
                          C.unused_denoiser_settings(cfg) if section == "denoiser" else None], sort_keys=True, default=str)
        if cache is not None and key in cache:
            out[section], width, trains[section] = cache[key]
        else:
            try:
                entry = registry.get(kind, comp.name)
                built, shape = _build_and_check(kind, comp.name, comp.params, (32, 32, 1), dim, 1e-3)
                has_weights = is_trainable(ensure_built(built)) if section in ("denoiser", "descriptor") else None
                if not (section == "descriptor" and not has_weights):  # a fixed descriptor: see below
                    check_trainable(cfg, section, built)  # `--descriptor none --denoiser nlmeans`: refused now
                if section == "denoiser" and not has_weights:
                    C.check_denoiser_settings(cfg)  # identity, nlmeans: a denoiser loss would do nothing
            except HpdescError as exc:
                if on_error is not None:
                    on_error(section, exc)
                raise
            width = shape[-1] if kind == "descriptor" else None
            out[section] = {"name": comp.name, "value": entry.value, "distribution": entry.distribution,
                            "version": entry.version}
            trains[section] = has_weights
            if cache is not None:
                cache[key] = (out[section], width, has_weights)
        if width is not None:
            dim = width
        if section == "denoiser" and cfg.trains_descriptor and trains.get("descriptor") is False:
            try:  # sift, onnx: only the denoiser trains
                C.check_fixed_descriptor(cfg, bool(trains["denoiser"]))
            except HpdescError as exc:
                if on_error is not None:
                    on_error("descriptor", exc)
                raise
    return {sec: out[sec] for sec in C.COMPONENTS if sec in out}


def check(entry: Entry, obj: Any, input_shape: tuple[int, int, int] = (32, 32, 1),
          dim: int = 128) -> tuple[int, ...] | None:
    """Check a built component against the contract; returns a model's dummy output shape.

    Denoisers and descriptors must be ``keras.Model`` s; a forward pass on ``(2, *input_shape)``
    values in [0, 1] must give ``(2, *input_shape)`` (denoisers) or a 2-D ``(2, D)``
    (descriptors; ``D`` may differ from ``dim``, e.g. the ``raw`` baseline, and is logged), all
    finite. Losses must be callables returning a finite scalar on dummy inputs (descriptor
    losses get ``(4, dim)`` unit vectors); optimizers must be ``keras.optimizers.Optimizer`` s.
    Returns None for losses and optimizers.
    """
    import keras

    kind = entry.kind
    if kind in ("denoiser", "descriptor"):
        if not isinstance(obj, keras.Model):
            raise _broke(entry, f"returned {_type_name(obj)}, expected a keras.Model")
        shape = _forward_shape(entry, obj, tuple(input_shape))
        if kind == "denoiser" and shape != (BATCH, *input_shape):
            raise _broke(entry, f"built a model whose output shape is {_fmt(shape)} for input "
                                f"{_fmt((BATCH, *input_shape))}; a denoiser must return its input's shape")
        if kind == "descriptor":
            if len(shape) != 2 or shape[0] != BATCH:
                raise _broke(entry, f"built a model whose output shape is {_fmt(shape)} for input "
                                    f"{_fmt((BATCH, *input_shape))}; a descriptor must return (B, D)")
            if shape[1] != dim:
                log.info("%s outputs %d-d descriptors (dim=%d was not used)", _who(entry), shape[1], dim)
        return shape
    if kind in ("denoiser_loss", "descriptor_loss"):
        if not callable(obj):
            raise _broke(entry, f"returned {_type_name(obj)}, expected a callable loss")
        _check_loss(entry, obj, tuple(input_shape), dim)
        return None
    if kind == "optimizer":
        if not isinstance(obj, keras.optimizers.Optimizer):
            raise _broke(entry, f"returned {_type_name(obj)}, expected a keras.optimizers.Optimizer")
        return None
    raise UsageError(f"unknown component kind {kind!r}")


def _fmt(shape) -> str:
    parts = ["None" if s is None else str(s) for s in shape]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _dummy_patches(input_shape, batch=BATCH, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((batch, *input_shape), dtype=np.float32)


def _to_numpy(value) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value))


def _forward_shape(entry: Entry, model, input_shape) -> tuple[int, ...]:
    from hpdesc.models import numpy_compute

    x = _dummy_patches(input_shape)
    try:
        compute = numpy_compute(model)
        out = compute(x) if compute is not None else model(x, training=False)
        if isinstance(out, (list, tuple, dict)):
            raise TypeError(f"the model returned a {type(out).__name__} of outputs, expected one tensor")
        out = _to_numpy(out)
    except Exception as exc:  # noqa: BLE001 - plugin code may raise anything
        raise _broke(entry, f"failed on a dummy batch of shape {_fmt(x.shape)}: "
                            f"{type(exc).__name__}: {exc}") from exc
    if not np.all(np.isfinite(out)):
        raise _broke(entry, f"built a model that outputs non-finite values (NaN/inf) on a dummy batch "
                            f"of shape {_fmt(x.shape)}")
    return tuple(int(s) for s in out.shape)


def _check_loss(entry: Entry, loss, input_shape, dim: int) -> None:
    if entry.kind == "denoiser_loss":
        clean = _dummy_patches(input_shape, LOSS_BATCH, seed=1)
        noisy = np.clip(clean + np.random.default_rng(2).normal(0, 0.05, clean.shape), 0, 1)
        inputs = (clean, noisy.astype(np.float32))
        what = f"two {_fmt(clean.shape)} patch batches"
    else:
        rng = np.random.default_rng(3)
        vecs = rng.normal(size=(3, LOSS_BATCH, dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=-1, keepdims=True)
        inputs = tuple(vecs)
        what = f"three {_fmt((LOSS_BATCH, dim))} descriptor batches"
    try:
        import keras

        value = _to_numpy(loss(*(keras.ops.convert_to_tensor(a) for a in inputs)))
    except Exception as exc:  # noqa: BLE001 - plugin code may raise anything
        raise _broke(entry, f"failed on {what}: {type(exc).__name__}: {exc}") from exc
    if value.shape != ():
        raise _broke(entry, f"returned shape {_fmt(value.shape)} on {what}; expected a scalar")
    if not np.isfinite(value):
        raise _broke(entry, f"returned {float(value)} on {what}; expected a finite value")


# -- saved runs -----------------------------------------------------------------------------


def _records(recorded: Mapping[str, Any] | Iterable[Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """Normalise what a run recorded to ``[(kind, {name, value, distribution, version}), ...]``.

    Accepts a run's ``[provenance]`` table or the ``{section: entry dict}`` mapping of
    :func:`check_components` (sections such as ``denoiser_optimizer`` map to
    their kind; plain values such as ``hpdesc = "0.1.0"`` are skipped), or an iterable of
    :class:`~hpdesc.registry.Entry` / entry dicts that carry a ``kind`` (``Entry.to_dict()``).
    """
    out = []
    if isinstance(recorded, Mapping):
        # a run's whole [provenance] table also holds plain values (hpdesc, keras versions...)
        items = [(k, v) for k, v in recorded.items() if isinstance(v, (Mapping, Entry))]
    else:
        items = [(None, r) for r in recorded]
    for section, rec in items:
        if isinstance(rec, Entry):
            rec = rec.to_dict()
        if not isinstance(rec, Mapping):
            raise HpdescError(f"the run's component record {section or ''} is not a table: {rec!r}")
        kind = rec.get("kind") or _SECTION_KIND.get(section, section)
        if kind not in registry.GROUPS:
            raise HpdescError(f"the run records an unknown component kind {kind!r}")
        missing = [k for k in ("name", "value", "distribution") if not rec.get(k)]
        if missing:
            raise HpdescError(f"the run's record of its {kind.replace('_', ' ')} lacks {', '.join(missing)}")
        out.append((kind, rec))
    return out


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.distribution(distribution).version
    except metadata.PackageNotFoundError:
        return None


def check_run_components(recorded: Mapping[str, Any] | Iterable[Any]) -> list[Entry]:
    """Make sure a saved run's components are installed and import their entry points.

    ``recorded`` is what the run stored for each component: name, entry point value
    (``module:object``), distribution and version (see :func:`_records` for the accepted
    shapes). For each, the distribution must be installed and the entry point must import;
    importing it registers the custom Keras layers the saved models need, so call this before
    ``keras.saving.load_model``. A different installed version only warns (``UserWarning``).

    Returns the entries as they are installed now.

    Raises:
        PluginError: ``this run needs hpdesc-ffdnet (1.0.0): pip install hpdesc-ffdnet`` for a
            missing distribution, or the import error of an entry point that no longer loads.
    """
    loaded: list[Entry] = []
    seen: set[tuple[str, str]] = set()
    for kind, rec in _records(recorded):
        dist, version = str(rec["distribution"]), str(rec.get("version") or "?")
        if (kind, rec["value"]) in seen:
            continue
        seen.add((kind, rec["value"]))
        what = f"{kind.replace('_', ' ')} {rec['name']!r}"
        installed = _installed_version(dist)
        if installed is None:
            pin = "" if version == "?" else f"=={version}"
            raise PluginError(
                f"this run needs {dist} ({version}): pip install {dist}  (it provides the {what})",
                hint=f"install it with `pip install {dist}{pin}`, then load the run again")
        if version not in ("?", installed):
            warnings.warn(f"this run was trained with {dist} {version}; {installed} is installed "
                          f"(the {what} may load or behave differently)", UserWarning, stacklevel=2)
        # Import the recorded entry point itself, not whatever now has that name: that module
        # is the one that registered the saved model's custom layers.
        entry = Entry(kind, str(rec["name"]), str(rec["value"]), dist, installed)
        try:
            entry.load()
        except PluginError as exc:
            raise PluginError(f"this run needs {what} from {dist}, which is installed but does not load: "
                              f"{exc.message}", hint=exc.hint) from exc
        loaded.append(entry)
    return loaded
