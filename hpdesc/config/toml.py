"""TOML in, for configuration: config files, ``--set`` values, and the lines of keys for error messages."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from hpdesc.errors import ConfigError

if sys.version_info >= (3, 11):  # pragma: no cover - version dependent
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# a settable key: SECTION or SECTION.NAME (``--set`` keys, sweep axis keys)
KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def parse_value(raw: str) -> Any:
    """Parse the VALUE of ``--set KEY=VALUE`` as a TOML value; a bare word stays a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw.strip()


def parse_set(item: str) -> tuple[str, Any]:
    """``"denoiser.alpha=0.2"`` -> ``("denoiser.alpha", 0.2)``."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set denoiser.alpha=0.2")
    if not KEY_RE.fullmatch(key):
        raise ConfigError(f"--set {item!r}: KEY must be SECTION or SECTION.NAME, e.g. denoiser.alpha")
    return key, parse_value(raw)


def parse_role_sets(sets, roles, hint: str, params=None) -> dict[str, dict]:
    """``["descriptor.root=true"]`` -> ``{"descriptor": {"root": True}}``: the one ``--set ROLE.PARAM=VALUE`` parser.

    ``roles``: the first parts a key may have (``denoiser``, ``descriptor``, denoiser names); any
    other key, or one without ``.PARAM``, is a ConfigError ending with ``hint``. ``params``:
    ``{role: {...}}`` given as a mapping first (``sets`` apply after it). (``apply_sets`` in
    :mod:`hpdesc.config.layers` is the training config's: it also takes whole sections.)
    """
    out = {role: dict(given) for role, given in (params or {}).items()}
    for item in sets:
        key, value = parse_set(item)
        role, _, name = key.partition(".")
        if role not in roles or not name:
            raise ConfigError(f"--set {item!r}: {hint}")
        out.setdefault(role, {})[name] = value
    return out


def read_toml(path) -> dict:
    """Read a TOML config file; syntax errors name the file and line."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{p}: no such config file")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file") from None


class TomlLines:
    """Line numbers of the tables and keys of a TOML text, for error messages (best effort).

    One finder for config files (:func:`hpdesc.config.layers.merge`'s messages) and sweep files
    (:mod:`hpdesc.experiments.sweepfile`). A key of table ``a.b`` is found as ``k = ...`` under
    ``[a.b]``, as ``b.k = ...`` under ``[a]``, as ``a.b.k = ...`` at the top, or inside an inline
    table (``b = { k = ... }`` under ``[a]``). ``[[name]]`` tables are numbered from 0 (``index``).
    Lines are 1-based; comment lines never match.
    """

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.tables: list[tuple[str, int]] = []  # per line: (table path, [[array]] index or -1)
        current, index, counts = "", -1, {}
        for line in self.lines:
            m = self._HEADER.match(line)
            if m:
                current = m.group(2).replace(" ", "")
                if m.group(1) == "[[":
                    counts[current] = index = counts.get(current, -1) + 1
                else:
                    index = -1
            self.tables.append((current, index))

    def find(self, pred) -> int | None:
        """The first non-comment line ``n`` (1-based) whose stripped text ``s`` has ``pred(n - 1, s)``."""
        for n, line in enumerate(self.lines):
            s = line.strip()
            if not s.startswith("#") and pred(n, s):
                return n + 1
        return None

    def _in(self, n: int, table: str, index: int | None) -> bool:
        return self.tables[n][0] == table and (index is None or self.tables[n][1] == index)

    def header(self, table: str, index: int | None = None) -> int | None:
        """The line of the ``[table]`` header (the ``index``-th ``[[table]]``; None: any)."""
        return self.find(lambda n, s: s.startswith("[") and self._in(n, table, index))

    def key(self, table: str, key: str, index: int | None = None) -> int | None:
        """The line that sets ``key`` of ``table`` (``""``: the top level), in any of the forms above."""
        k = re.escape(key)
        hit = self.find(lambda n, s: self._in(n, table, index) and re.match(rf"{k}\s*=", s))
        parts = table.split(".") if table and index is None else []
        for cut in range(len(parts) - 1, -1, -1):  # the nearest enclosing table first
            outer, rest = ".".join(parts[:cut]), re.escape(".".join(parts[cut:]))
            hit = hit or self.find(lambda n, s: self._in(n, outer, None) and re.match(rf"{rest}\.{k}\s*=", s))
            hit = hit or self.find(lambda n, s: self._in(n, outer, None) and re.match(rf"{rest}\s*=\s*\{{", s)
                                   and re.search(rf"(^|[{{,\s]){k}\s*=", s[s.index("{"):]))
        return hit
