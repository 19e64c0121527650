"""What `hpdesc plugins` reports: every entry with its summary or its load error."""

from __future__ import annotations

from hpdesc import registry
from hpdesc.errors import PluginError


def describe_entries(kind: str | None = None) -> list[dict]:
    """One dict per component: group, name, distribution, version, summary, ok, error."""
    rows = []
    for e in registry.entries(kind):
        row = e.to_dict()
        try:
            row.update(summary=e.summary, ok=True, error=None)
        except PluginError as exc:
            row.update(summary="", ok=False, error=exc.message)
        rows.append(row)
    return rows
