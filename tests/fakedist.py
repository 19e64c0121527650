"""Throwaway plugin distributions for tests: a dist-info folder plus a module on sys.path.

importlib.metadata discovers these exactly like pip-installed distributions (it scans
sys.path for *.dist-info), so the registry is exercised through real entry-point metadata.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path


def make_dist(root: Path, name: str, version: str, entry_points: dict[str, dict[str, str]],
              modules: dict[str, str]) -> Path:
    """Write distribution ``name`` into ``root`` (which the caller puts on sys.path)."""
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, eps in entry_points.items():
        lines.append(f"[{group}]")
        lines += [f"{k} = {v}" for k, v in eps.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    (info / "RECORD").write_text("")
    for mod, src in modules.items():
        (root / f"{mod}.py").write_text(textwrap.dedent(src))
    return root


def activate(root: Path, monkeypatch) -> None:
    """Put ``root`` on sys.path for this test and reset registry discovery."""
    from hpdesc import registry

    monkeypatch.syspath_prepend(str(root))
    for mod in [m for m in sys.modules if m.startswith("fakeplug")]:
        del sys.modules[mod]
    registry.refresh()
