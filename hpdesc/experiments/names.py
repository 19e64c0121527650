"""Short texts for config keys and values, as run names, axis labels and table columns show them.

``denoiser_optimizer.learning_rate`` -> ``dopt.lr``; ``{ name = "sgd", learning_rate = 0.1 }`` ->
``sgd+lr=0.1``. Deterministic, so a sweep run again names its runs the same.
"""

from __future__ import annotations

from typing import Any, Mapping

SECTION_ABBR = {
    "denoiser": "den", "descriptor": "desc", "denoiser_loss": "dloss", "descriptor_loss": "descloss",
    "denoiser_optimizer": "dopt", "descriptor_optimizer": "descopt", "training": "tr", "data": "data",
    "benchmark": "bench",
}
PARAM_ABBR = {
    "learning_rate": "lr", "denoiser_batch_size": "dbs", "descriptor_batch_size": "descbs",
    "denoiser_epochs": "dep", "descriptor_epochs": "descep", "activation": "act", "reduction": "red",
    "denoiser_samples_per_epoch": "dspe", "descriptor_triplets_per_epoch": "desctpe", "momentum": "mom",
    "descriptor_input": "input", "filters": "f",
}


def short_key(key: str) -> str:
    """``denoiser_optimizer.learning_rate`` -> ``dopt.lr`` (for run names)."""
    section, _, name = key.partition(".")
    out = SECTION_ABBR.get(section, section)
    return f"{out}.{PARAM_ABBR.get(name, name)}" if name else out


def fmt_value(value: Any) -> str:
    """A short, deterministic text for an axis value (``0.01``, ``he_normal``, ``sgd+lr=0.1``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "+".join(fmt_value(v) for v in value)
    if isinstance(value, Mapping):
        rest = ",".join(f"{PARAM_ABBR.get(k, k)}={fmt_value(v)}" for k, v in value.items() if k != "name")
        name = str(value.get("name", ""))
        return f"{name}+{rest}" if name and rest else (name or rest)
    return str(value)


__all__ = ["short_key", "fmt_value", "SECTION_ABBR", "PARAM_ABBR"]
