"""Component registry: a thin layer over entry points (see docs/plugins.md).

The only module that knows about entry points. Discovery reads distribution metadata only;
a component's module is imported when it is asked for, so one broken plugin costs nothing
else (flake8-style lazy loading).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import Any, Callable

from hpdesc.errors import HpdescError, ParameterError, PluginError, UnknownComponentError, UsageError
from hpdesc.errors import did_you_mean

GROUPS: dict[str, str] = {
    "denoiser": "hpdesc.denoisers",
    "descriptor": "hpdesc.descriptors",
    "denoiser_loss": "hpdesc.denoiser_losses",
    "descriptor_loss": "hpdesc.descriptor_losses",
    "optimizer": "hpdesc.optimizers",
}
"""Component kind (as used in configs and messages) -> entry-point group."""

_CLI_FLAG = {
    "denoiser": "--denoiser",
    "descriptor": "--descriptor",
    "denoiser_loss": "--denoiser-loss",
    "descriptor_loss": "--descriptor-loss",
    "optimizer": "--*-optimizer",
}


@dataclass(frozen=True)
class Entry:
    """One declared component: what `hpdesc plugins` prints and what a run records."""

    kind: str
    name: str
    value: str  # "module:object"
    distribution: str
    version: str

    @property
    def group(self) -> str:
        return GROUPS[self.kind]

    @property
    def qualified(self) -> str:
        """``DISTRIBUTION:NAME``, the spelling that stays unique when names clash."""
        return f"{self.distribution}:{self.name}"

    def load(self) -> Callable[..., Any]:
        """Import and return the factory; import failures become a PluginError naming the plugin."""
        return _load(self)

    @property
    def summary(self) -> str:
        """First docstring line of the factory (imports the plugin module)."""
        doc = inspect.getdoc(self.load()) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""

    def describe(self) -> str:
        """``denoiser 'ffdnet' from hpdesc-ffdnet 1.0.0 (hpdesc_ffdnet.ffdnet:ffdnet)``, for errors."""
        return (f"{self.kind.replace('_', ' ')} {self.name!r} from {self.distribution} {self.version} "
                f"({self.value})")

    def failure_hint(self) -> str:
        """Where to report a component that fails on its own (not because of the user's input)."""
        if self.distribution.lower() == "hpdesc":
            return "this is a bug in hpdesc; please report it with the command you ran"
        return (f"this is a bug in the {self.distribution} plugin: report it to its authors, or pick "
                f"another {self.kind.replace('_', ' ')} (`hpdesc plugins` lists them)")

    def to_dict(self) -> dict[str, str]:
        d = asdict(self)
        d["group"] = self.group
        return d


def _check_kind(kind: str) -> str:
    if kind not in GROUPS:
        raise UsageError(f"unknown component kind {kind!r}; kinds are {', '.join(GROUPS)}")
    return GROUPS[kind]


@functools.lru_cache(maxsize=None)
def _all_entries() -> tuple[Entry, ...]:
    """Scan installed distributions once per process for hpdesc entry points."""
    by_group = {g: k for k, g in GROUPS.items()}
    found: dict[tuple, Entry] = {}
    for dist in metadata.distributions():
        try:
            dist_name = dist.metadata["Name"] or "?"
            eps = dist.entry_points
        except Exception:  # noqa: BLE001 - a broken dist-info must not break discovery
            continue
        for ep in eps:
            kind = by_group.get(ep.group)
            if kind is None:
                continue
            e = Entry(kind, ep.name, ep.value, dist_name, dist.version or "?")
            # the same distribution can appear twice on sys.path (e.g. editable + site); keep one
            found.setdefault((kind, ep.name, dist_name.lower().replace("_", "-")), e)
    return tuple(sorted(found.values(), key=lambda e: (list(GROUPS).index(e.kind), e.name, e.distribution)))


def refresh() -> None:
    """Forget cached discovery (after installing a plugin in the same process, e.g. tests)."""
    _all_entries.cache_clear()
    _load.cache_clear()


def entries(kind: str | None = None) -> list[Entry]:
    """All declared components, optionally of one kind, sorted by kind then name."""
    if kind is not None:
        _check_kind(kind)
    return [e for e in _all_entries() if kind is None or e.kind == kind]


def names(kind: str) -> list[str]:
    """Names users can type for ``kind`` (duplicates appear once)."""
    return sorted({e.name for e in entries(kind)})


def get(kind: str, name: str) -> Entry:
    """Resolve a user-typed name (``NAME`` or ``DISTRIBUTION:NAME``) to one Entry.

    Unknown names list what is available and the closest match; a bare name declared by two
    distributions is an error that lists both qualified spellings (plugin contract, "Names").
    """
    group_entries = entries(kind)
    if ":" in name:
        dist, _, bare = name.partition(":")
        norm = dist.lower().replace("_", "-")
        hits = [e for e in group_entries if e.name == bare and e.distribution.lower().replace("_", "-") == norm]
        if hits:
            return hits[0]
        available = [e.qualified for e in group_entries]
        raise UnknownComponentError(
            f"unknown {kind.replace('_', ' ')} {name!r}" + did_you_mean(name, available, cutoff=0.5),
            hint=f"available: {', '.join(available) or 'none'} (see `hpdesc plugins`)",
        )
    hits = [e for e in group_entries if e.name == name]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        both = ", ".join(e.qualified for e in hits)
        raise UsageError(
            f"{kind.replace('_', ' ')} name {name!r} is declared by several distributions: {both}",
            hint=f"pick one with its qualified name, e.g. {_CLI_FLAG[kind]} {hits[0].qualified}",
        )
    available = names(kind)
    raise UnknownComponentError(
        f"unknown {kind.replace('_', ' ')} {name!r}" + did_you_mean(name, available, cutoff=0.5),
        hint=f"available: {', '.join(available) or 'none'} (see `hpdesc plugins`)",
    )


@functools.lru_cache(maxsize=None)
def _load(entry: Entry) -> Callable[..., Any]:
    module_name, _, attr = entry.value.partition(":")
    try:
        obj = importlib.import_module(module_name.strip())
        for part in attr.strip().split(".") if attr.strip() else []:
            obj = getattr(obj, part)
    except Exception as exc:  # noqa: BLE001 - plugin code may raise anything on import
        raise PluginError(
            f"{entry.kind.replace('_', ' ')} {entry.name!r} from {entry.distribution} {entry.version} "
            f"failed to load ({entry.value}): {type(exc).__name__}: {exc}",
            hint=f"fix or reinstall {entry.distribution}; other components keep working",
        ) from exc
    if not callable(obj):
        raise PluginError(f"{entry.kind.replace('_', ' ')} {entry.name!r} from {entry.distribution}: "
                          f"{entry.value} is not callable")
    return obj


def load(kind: str, name: str) -> Callable[..., Any]:
    """The factory behind a component name."""
    return get(kind, name).load()


def build(kind: str, name: str, /, *args: Any, **params: Any) -> Any:
    """Call a component's factory; every failure is one line that says whose it is.

    ``args``/``params`` are what the contract passes (``input_shape``, ``dim``, ``learning_rate``)
    plus what the user set. Who is to blame (docs/plugins.md, "Parameters"):

    * the call does not fit the factory's signature (an unknown or missing parameter; a factory
      with ``**kwargs`` accepts any keyword): the user's, a :class:`UsageError` listing the
      parameters the factory accepts; the factory is not called;
    * the factory raises :class:`~hpdesc.errors.ParameterError` (its documented value checks,
      e.g. ``hpdesc.models.layers.check_float``): the user's, a :class:`UsageError` naming the
      component; any other hpdesc error passes through unchanged;
    * the factory raises anything else (``TypeError`` and ``ValueError`` included): the
      component's own failure, a :class:`PluginError` naming it, its distribution and version.
    """
    entry = get(kind, name)
    factory = entry.load()
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a callable without an introspectable signature
        signature = None
    if signature is not None:
        try:
            signature.bind(*args, **params)
        except TypeError as exc:
            raise _rejected(entry, factory, params, exc) from None
    try:
        return factory(*args, **params)
    except ParameterError as exc:
        raise _rejected(entry, factory, params, exc) from exc
    except HpdescError:
        raise
    except Exception as exc:  # noqa: BLE001 - plugin code may raise anything
        raise PluginError(
            f"{entry.describe()} failed while building with {_fmt_params(params)}: "
            f"{type(exc).__name__}: {exc}",
            hint=entry.failure_hint(),
        ) from exc


def _rejected(entry: Entry, factory: Callable[..., Any], params: dict[str, Any], exc: Exception) -> UsageError:
    return UsageError(
        f"{entry.kind.replace('_', ' ')} {entry.name!r} ({entry.distribution}) rejected its parameters "
        f"{_fmt_params(params)}: {exc}",
        hint=f"parameters it accepts: {', '.join(accepted_params(factory)) or 'none'}",
    )


def accepted_params(factory: Callable[..., Any]) -> list[str]:
    """Keyword parameters a factory declares (for hints and `hpdesc plugins --params`)."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _fmt_params(params: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in params.items()) + "}"
