"""Task CSV files (hpatches-benchmark's ``verif_*`` / ``retr_*`` layout) read into index tables, fast.

A file is read once as bytes and cut into fields with numpy: separator positions give every
field's span, integer columns are parsed digit by digit over all rows at once, and sequence
names are hashed from their (zero-padded) bytes so that ``np.unique`` over integers finds the
few distinct names (collisions are checked exactly). Anything the fast path does not expect --
non-ASCII bytes, control characters, lone CR line ends, signs, spaces or other characters in a
number, a header that does not match -- goes to the line-by-line reader, which gives the same
table or the same error as hpdesc always did. One file of 1e6 pairs takes well under a second
instead of ~6 s.

The name-independent part of a parse (distinct names, per-row name ids, integer columns) is
cached by the sha256 of the file's bytes under ``<benchmark cache>/task-csv/``; mapping names to
the dataset's sequences and the range checks run on every read.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpdesc.atomic import atomic_path
from hpdesc.errors import DataFormatError

PARSER_VERSION = 1
CACHE_SUBDIR = "task-csv"
_MAX_NAME = 64  # bytes; longer names take the line reader (bounded memory for the padded name table)
_MAX_DIGITS = 18  # fits int64
_NL, _COMMA = 10, 44


@dataclass
class ParsedCsv:
    """A task file's content without reference to any dataset.

    ``cols[c]`` is ``(names, ids)`` for a sequence column (distinct stripped names in sorted
    order, each row's index into them) and an integer array for the others.
    """

    n: int
    cols: list


def read_task_csv(path, columns: tuple[str, ...], names: list[str], counts: dict[str, int],
                  cache_dir: Path | None = None) -> np.ndarray:
    """Read a task CSV (header ``columns``); sequence columns mapped to indices into ``names``.

    Unknown sequences are appended to ``names`` (in sorted order) if the dataset has them
    (``counts``); an unknown sequence or an out-of-range index is a DataFormatError naming the
    file and line (the line among the non-blank ones). ``cache_dir``: where parsed files are
    kept (None: no cache).
    """
    path = Path(path)
    data = path.read_bytes()
    key = _cache_key(data, columns) if cache_dir is not None else None
    parsed = _cache_get(cache_dir, key, columns) if key else None
    if parsed is None:
        parsed = parse_task_bytes(path, data, columns)
        if parsed is None:
            return _read_lines(path, columns, names, counts)
        if key:
            _cache_put(cache_dir, key, parsed, columns)
    return _resolve(path, columns, names, counts, parsed)


# -- fast path ---------------------------------------------------------------------------------

def parse_task_bytes(path, data: bytes, columns: tuple[str, ...]) -> ParsedCsv | None:
    """Parse a plain task file; None if it is not plain (the line reader decides then).

    Raises the line reader's error for a wrong field count (it needs no dataset).
    """
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
        if b"\r" in data:
            return None
    if not data:
        return None
    b = np.frombuffer(data, dtype=np.uint8)
    # printable ASCII, tabs and newlines only (where str.strip / splitlines agree with this code)
    ctrl, lines = np.count_nonzero(b < 32), data.count(b"\n")
    if b.max() > 126 or (ctrl != lines and ctrl != lines + data.count(b"\t")):
        return None
    end = data.find(b"\n")
    header = data if end < 0 else data[:end]
    if [c.strip() for c in header.decode("ascii").split(",")] != list(columns):
        return None
    body = memoryview(data)[end + 1:] if end >= 0 else memoryview(b"")
    eol = b"\n" if body.nbytes and body[-1:] != b"\n" else b""
    if body.nbytes and (body[:1] == b"\n" or ctrl != lines or b"\n\n" in data or b" " in data):
        body, eol = _BLANK.sub(b"", bytes(body) + eol), b""  # blank lines do not count as rows
    pad = b"\0" * 8
    buf = b"".join([pad, body, eol, pad])  # padded so that 8-byte reads around any field stay inside
    size = len(buf) - 16
    n, ncol = buf.count(b"\n"), len(columns)
    if n == 0:
        return ParsedCsv(0, [([], np.zeros(0, np.int64)) if c.startswith("s") else np.zeros(0, np.int64)
                             for c in columns])
    bb = np.frombuffer(buf, dtype=np.uint8, count=size, offset=8)
    seps = _separators(bb, bb < 45, n, ncol)  # ',' and '\n' are the only bytes < 45 in most files
    if seps is None:
        seps = _separators(bb, (bb == _COMMA) | (bb == _NL), n, ncol)
    if seps is None:
        nl = np.flatnonzero(bb == _NL)
        per_line = np.add.reduceat(bb == _COMMA, np.concatenate([[0], nl[:-1] + 1]), dtype=np.int64)
        bad = int(np.flatnonzero(per_line != ncol - 1)[0])
        raise DataFormatError(f"{path}:{bad + 2}: expected {ncol} fields")
    starts = np.concatenate([[0], seps[:-1, -1] + 1])
    # the 8-byte little-endian word at every byte offset: words[x + 8] holds body bytes x .. x + 7
    words = np.ndarray((len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))
    cols = []
    for c, col in enumerate(columns):
        a = starts if c == 0 else seps[:, c - 1] + 1
        e = seps[:, c]
        part = _names(buf, words, a, e) if col.startswith("s") else _ints(words, a, e)
        if part is None:
            return None
        cols.append(part)
    return ParsedCsv(n, cols)


def _separators(bb: np.ndarray, mask: np.ndarray, n: int, ncol: int) -> np.ndarray | None:
    """Positions ``(n, ncol)`` of each row's commas and newline, if ``mask`` marks exactly those."""
    seps = np.flatnonzero(mask)
    if seps.size != n * ncol:
        return None
    seps = seps.reshape(n, ncol)
    kinds = bb[seps]
    if (kinds[:, -1] != _NL).any() or (kinds[:, :-1] != _COMMA).any():
        return None
    return seps


_BLANK = re.compile(rb"(?m)^[ \t]*\n")
_LOW = np.array([(1 << (8 * r)) - 1 for r in range(9)], dtype=np.uint64)  # the low r bytes of a word
_U = {k: np.uint64(v) for k, v in {"0": 0x3030303030303030, "hi": 0xF0F0F0F0F0F0F0F0, "6": 0x0606060606060606,
                                  "m8": 0x00FF00FF00FF00FF, "m16": 0x0000FFFF0000FFFF,
                                  "m32": 0x00000000FFFFFFFF}.items()}


def _ints(words: np.ndarray, a: np.ndarray, e: np.ndarray) -> np.ndarray | None:
    """Decimal fields ``[a, e)`` as int64, 8 digits per step (SWAR); None unless each is 1-18 digits."""
    length = e - a
    if length.min() < 1 or length.max() > _MAX_DIGITS:
        return None
    val = None
    for k in range(-(-int(length.max()) // 8)):  # 8-digit chunks from the right
        take = np.clip(length - 8 * k, 0, 8) if k else np.minimum(length, 8)
        w = words[e - 8 * k]  # the 8 bytes ending at e - 8k (indices shifted by the padding)
        low = _LOW[8 - take]  # bytes before the chunk: read as '0'
        w = (w & ~low) | (_U["0"] & low)
        hi = _U["hi"]
        if (((w & hi) ^ _U["0"]) | (((w + _U["6"]) & hi) ^ _U["0"])).any():
            return None  # a byte that is not a digit
        w = w - _U["0"]  # eight digits, the most significant in the lowest byte
        w = (w * np.uint64(10) + (w >> np.uint64(8))) & _U["m8"]
        w = (w * np.uint64(100) + (w >> np.uint64(16))) & _U["m16"]
        w = (w * np.uint64(10000) + (w >> np.uint64(32))) & _U["m32"]
        w = w.astype(np.int64)
        val = w if val is None else val + w * 10 ** (8 * k)
    return val


def _names(buf: bytes, words: np.ndarray, a: np.ndarray, e: np.ndarray):
    """``(distinct stripped names, sorted; each row's index into them)`` of the fields ``[a, e)``."""
    length = e - a
    width = int(length.max())
    if width > _MAX_NAME:
        return None
    last = words.size - 1
    parts = [words[np.minimum(a + 8 + 8 * k, last)] & _LOW[np.clip(length - 8 * k, 0, 8)]
             for k in range(max(1, -(-width // 8)))]
    key = parts[0]
    for w in parts[1:]:
        key = key * np.uint64(0x100000001B3) ^ w
    ukey = np.unique(key)
    inv = np.searchsorted(ukey, key)
    rep = np.empty(ukey.size, dtype=np.int64)
    rep[inv] = np.arange(key.size)  # some row of each key
    for w in parts:  # exact check: rows with one key have one name (else a hash collision)
        if not np.array_equal(w, w[rep][inv]):
            return None
    raw = [bytes(buf[a[i] + 8:e[i] + 8]).decode("ascii").strip() for i in rep]
    uniq = sorted(set(raw))
    at = {u: i for i, u in enumerate(uniq)}
    return uniq, np.array([at[r] for r in raw], dtype=np.int64)[inv]


def _resolve(path, columns, names: list[str], counts: dict[str, int], parsed: ParsedCsv) -> np.ndarray:
    """Map parsed names to indices into ``names`` (appending dataset sequences) and check ranges."""
    out = np.zeros((parsed.n, len(columns)), dtype=np.int64)
    if parsed.n == 0:
        return out
    pos = {n: i for i, n in enumerate(names)}
    for c, col in enumerate(columns):
        if col.startswith("s"):
            uniq, ids = parsed.cols[c]
            for k, u in enumerate(uniq):
                if u not in pos:
                    if u not in counts:
                        line = int(np.flatnonzero(ids == k)[0]) + 2
                        raise DataFormatError(f"{path}:{line}: sequence {u!r} is not in the dataset")
                    pos[u] = len(names)
                    names.append(u)
            out[:, c] = np.array([pos[u] for u in uniq], dtype=np.int64)[ids]
        else:
            out[:, c] = parsed.cols[c]
    check_rows(path, columns, names, counts, out)
    return out


def check_rows(path, columns, names: list[str], counts: dict[str, int], out: np.ndarray) -> None:
    """Patch indices within their sequence, image ids 0..5 (DataFormatError naming the first bad row)."""
    cnt = np.array([counts[n] for n in names], dtype=np.int64)
    for c, col in enumerate(columns):
        if col.startswith("idx"):
            s_col = columns.index("s" + col[3:]) if ("s" + col[3:]) in columns else 0
            bad = np.nonzero((out[:, c] < 0) | (out[:, c] >= cnt[out[:, s_col]]))[0]
            if bad.size:
                i = int(bad[0])
                raise DataFormatError(f"{path}:{i + 2}: patch index {out[i, c]} out of range for "
                                      f"{names[out[i, s_col]]} ({cnt[out[i, s_col]]} patches)")
        if col.startswith("t"):
            if np.any((out[:, c] < 0) | (out[:, c] > 5)):
                raise DataFormatError(f"{path}: image ids in {col!r} must be 0..5")


# -- line reader (anything that is not plain) -----------------------------------------------------

def _read_lines(path, columns, names: list[str], counts: dict[str, int]) -> np.ndarray:
    """The original reader: Python line splitting, numpy string arrays; slow, handles any text."""
    lines = Path(path).read_text().splitlines()
    if not lines or [c.strip() for c in lines[0].split(",")] != list(columns):
        raise DataFormatError(f"{path}: expected the header {','.join(columns)}")
    rows = [ln.split(",") for ln in lines[1:] if ln.strip()]
    if any(len(r) != len(columns) for r in rows):
        bad = next(i for i, r in enumerate(rows) if len(r) != len(columns))
        raise DataFormatError(f"{path}:{bad + 2}: expected {len(columns)} fields")
    out = np.zeros((len(rows), len(columns)), dtype=np.int64)
    if not rows:
        return out
    table = np.array(rows, dtype=str)
    pos = {n: i for i, n in enumerate(names)}
    for c, col in enumerate(columns):
        vals = np.char.strip(table[:, c])
        if col.startswith("s"):
            uniq, inv = np.unique(vals, return_inverse=True)
            for u in map(str, uniq):
                if u not in pos:
                    if u not in counts:
                        line = int(np.nonzero(vals == u)[0][0]) + 2
                        raise DataFormatError(f"{path}:{line}: sequence {u!r} is not in the dataset")
                    pos[u] = len(names)
                    names.append(u)
            out[:, c] = np.array([pos[str(u)] for u in uniq], dtype=np.int64)[inv.reshape(-1)]
        else:
            try:
                out[:, c] = vals.astype(np.int64)
            except ValueError:
                raise DataFormatError(f"{path}: column {col!r} has non-integer values") from None
    check_rows(path, columns, names, counts, out)
    return out


# -- cache -----------------------------------------------------------------------------------------

def _cache_key(data: bytes, columns) -> str:
    h = hashlib.sha256(json.dumps([PARSER_VERSION, list(columns)]).encode())
    h.update(data)
    return h.hexdigest()


def _cache_file(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / CACHE_SUBDIR / f"{key}.npz"


def _compact(a: np.ndarray) -> np.ndarray:
    """Smallest unsigned dtype for non-negative ids / parsed digits (a file of 1e6 pairs: ~8 MB)."""
    return a.astype(np.min_scalar_type(int(a.max()))) if a.size else a


def _cache_put(cache_dir: Path, key: str, parsed: ParsedCsv, columns) -> None:
    arrays = {"n": np.array(parsed.n)}
    for c, col in enumerate(columns):
        if col.startswith("s"):
            uniq, ids = parsed.cols[c]
            arrays[f"names{c}"] = np.array(uniq, dtype=str)
            arrays[f"ids{c}"] = _compact(ids)
        else:
            arrays[f"vals{c}"] = _compact(parsed.cols[c])
    try:
        with atomic_path(_cache_file(cache_dir, key)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    except OSError:
        pass  # a cache that cannot be written is only slower


def _cache_get(cache_dir: Path, key: str, columns) -> ParsedCsv | None:
    p = _cache_file(cache_dir, key)
    if not p.is_file():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            n = int(z["n"])
            cols = []
            for c, col in enumerate(columns):
                if col.startswith("s"):
                    uniq = [str(u) for u in z[f"names{c}"]]
                    ids = z[f"ids{c}"].astype(np.int64)
                    if ids.shape != (n,) or (n and ids.max() >= len(uniq)):
                        return None
                    cols.append((uniq, ids))
                else:
                    vals = z[f"vals{c}"].astype(np.int64)
                    if vals.shape != (n,):
                        return None
                    cols.append(vals)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # unreadable or from another layout: parse again
    return ParsedCsv(n, cols)
