"""Task CSV reading: the vectorised reader gives what the line-by-line reader gave, errors included,
and parsed files are cached by content."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from hpdesc.benchmark import taskcsv
from hpdesc.benchmark import tasks as T
from hpdesc.errors import DataFormatError

VERIF = ("s1", "t1", "idx1", "s2", "t2", "idx2")
RETR = ("s", "idx")
COUNTS = {"i_alpha": 40, "i_beta": 55, "v_delta": 48, "v_eps": 60, "v_zeta": 35}
NAMES = ["i_beta", "v_eps"]


def old_read_task_csv(path, columns, names, counts):
    """hpdesc ffe5afe's read_task_csv, verbatim: the reference for the vectorised reader."""
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
            for u in uniq:
                if u not in pos:
                    if u not in counts:
                        line = int(np.nonzero(vals == u)[0][0]) + 2
                        raise DataFormatError(f"{path}:{line}: sequence {u!r} is not in the dataset")
                    pos[u] = len(names)
                    names.append(u)
            out[:, c] = np.array([pos[u] for u in uniq], dtype=np.int64)[inv]
        else:
            try:
                out[:, c] = vals.astype(np.int64)
            except ValueError:
                raise DataFormatError(f"{path}: column {col!r} has non-integer values") from None
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
    return out


def _outcome(fn, path, columns):
    names = list(NAMES)
    try:
        arr = fn(path, columns, names, COUNTS)
    except Exception as exc:  # noqa: BLE001 - compare whatever each reader does
        # the old reader quoted names as "np.str_('x')" under numpy 2; the new one says 'x'
        return ("error", type(exc).__name__, re.sub(r"np\.str_\(('.*?')\)", r"\1", str(exc)))
    return ("ok", arr.dtype.str, arr.shape, arr.tolist(), [str(n) for n in names])


def _same(path, columns):
    new = _outcome(T.read_task_csv, path, columns)
    assert new == _outcome(old_read_task_csv, path, columns)
    return new


V_ROWS = ["i_beta,0,3,v_eps,1,59", "v_eps,5,0,i_beta,2,54", "i_beta,3,7,i_beta,4,8"]
CASES = {
    "plain": "s1,t1,idx1,s2,t2,idx2\n" + "\n".join(V_ROWS) + "\n",
    "no trailing newline": "s1,t1,idx1,s2,t2,idx2\n" + "\n".join(V_ROWS),
    "crlf": "s1,t1,idx1,s2,t2,idx2\r\n" + "\r\n".join(V_ROWS) + "\r\n",
    "crlf no trailing": "s1,t1,idx1,s2,t2,idx2\r\n" + "\r\n".join(V_ROWS),
    "lone cr": "s1,t1,idx1,s2,t2,idx2\r" + "\r".join(V_ROWS) + "\r",
    "header only": "s1,t1,idx1,s2,t2,idx2\n",
    "header only no newline": "s1,t1,idx1,s2,t2,idx2",
    "empty": "",
    "newline only": "\n",
    "wrong header": "s1,t1,idx1,s2,t2\n" + "\n".join(V_ROWS) + "\n",
    "header spaces": " s1 , t1,idx1 ,s2,t2,\tidx2 \n" + "\n".join(V_ROWS) + "\n",
    "field spaces": "s1,t1,idx1,s2,t2,idx2\n i_beta ,0,3,\tv_eps, 1 ,59\n" + V_ROWS[1] + "\n",
    "blank lines": "s1,t1,idx1,s2,t2,idx2\n\n" + V_ROWS[0] + "\n  \n\t\n" + V_ROWS[1] + "\n\n\n",
    "blank last line no newline": "s1,t1,idx1,s2,t2,idx2\n" + V_ROWS[0] + "\n \t ",
    "blank then bad": "s1,t1,idx1,s2,t2,idx2\n\n" + V_ROWS[0] + "\n\nv_nope,1,2,i_beta,1,1\n",
    "too few fields": "s1,t1,idx1,s2,t2,idx2\n" + V_ROWS[0] + "\ni_beta,0,3,v_eps,1\n",
    "too many fields": "s1,t1,idx1,s2,t2,idx2\n" + V_ROWS[0] + ",\n",
    "unknown sequences": "s1,t1,idx1,s2,t2,idx2\n" + V_ROWS[0] + "\nz_b,0,1,i_beta,1,1\ni_beta,0,1,a_x,1,1\nz_a,0,1,v_eps,1,1\n",
    "unknown in s2 only": "s1,t1,idx1,s2,t2,idx2\n" + V_ROWS[0] + "\ni_beta,0,1,q_q,1,1\n",
    "dataset names appended sorted": "s1,t1,idx1,s2,t2,idx2\nv_zeta,0,1,i_alpha,1,2\nv_delta,0,1,v_zeta,1,2\n" + V_ROWS[2],
    "empty name": "s1,t1,idx1,s2,t2,idx2\n,0,1,i_beta,1,1\n",
    "non-integer": "s1,t1,idx1,s2,t2,idx2\n" + V_ROWS[0] + "\ni_beta,0,1.5,v_eps,1,1\n",
    "empty integer": "s1,t1,idx1,s2,t2,idx2\ni_beta,,1,v_eps,1,1\n",
    "letters": "s1,t1,idx1,s2,t2,idx2\ni_beta,0,x1,v_eps,1,1\n",
    "signs": "s1,t1,idx1,s2,t2,idx2\ni_beta,+0,+1,v_eps,1,1\n",
    "negative index": "s1,t1,idx1,s2,t2,idx2\n" + V_ROWS[0] + "\ni_beta,0,-1,v_eps,1,1\n",
    "leading zeros": "s1,t1,idx1,s2,t2,idx2\ni_beta,00,007,v_eps,0001,0000000000000000000000000000000042\n",
    "long numbers": "s1,t1,idx1,s2,t2,idx2\ni_beta,0,000000000000000012,v_eps,00001,00000000000000059\n"
                    "i_beta,5,00000054,v_eps,1,000000000\n",
    "long number out of range": "s1,t1,idx1,s2,t2,idx2\ni_beta,0,123456789012345678,v_eps,1,1\n",
    "huge integer": "s1,t1,idx1,s2,t2,idx2\ni_beta,0,99999999999999999999,v_eps,1,1\n",
    "index out of range": "s1,t1,idx1,s2,t2,idx2\n" + V_ROWS[0] + "\ni_beta,0,55,v_eps,1,1\n",
    "index out of range in idx2": "s1,t1,idx1,s2,t2,idx2\n" + V_ROWS[0] + "\ni_beta,0,1,v_eps,1,60\n",
    "image id 6": "s1,t1,idx1,s2,t2,idx2\n" + V_ROWS[0] + "\ni_beta,6,1,v_eps,1,1\n",
    "unknown beats bad int later": "s1,t1,idx1,s2,t2,idx2\nnope,x,1,v_eps,1,1\n",
    "bad int beats unknown later": "s1,t1,idx1,s2,t2,idx2\ni_beta,x,1,nope,1,1\n",
    "non-ascii name": "s1,t1,idx1,s2,t2,idx2\n" + V_ROWS[0] + "\nv_\u00e9t\u00e9,0,1,v_eps,1,1\n",
    "control character": "s1,t1,idx1,s2,t2,idx2\ni_beta\x0b,0,1,v_eps,1,1\n",
    "form feed line break": "s1,t1,idx1,s2,t2,idx2\ni_beta,0,1,v_eps,1,1\x0ci_beta,0,1,v_eps,1,1\n",
    "nul": "s1,t1,idx1,s2,t2,idx2\ni_beta\x00,0,1,v_eps,1,1\n",
    "bom": "\ufeffs1,t1,idx1,s2,t2,idx2\n" + V_ROWS[0] + "\n",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_verification_csv_same_as_line_reader(tmp_path, case):
    p = tmp_path / "verif_pos_split-a.csv"
    p.write_bytes(CASES[case].encode("utf-8"))
    _same(p, VERIF)


def test_a_few_outcomes_spelled_out(tmp_path):
    p = tmp_path / "v.csv"
    p.write_bytes(CASES["plain"].encode())
    assert _same(p, VERIF)[3] == [[0, 0, 3, 1, 1, 59], [1, 5, 0, 0, 2, 54], [0, 3, 7, 0, 4, 8]]
    p.write_bytes(CASES["unknown sequences"].encode())
    assert _same(p, VERIF)[2] == f"{p}:5: sequence 'z_a' is not in the dataset"
    p.write_bytes(CASES["dataset names appended sorted"].encode())
    assert _same(p, VERIF)[4] == NAMES + ["v_delta", "v_zeta", "i_alpha"]
    p.write_bytes(CASES["empty"].encode())
    assert _same(p, VERIF)[2] == f"{p}: expected the header s1,t1,idx1,s2,t2,idx2"


@pytest.mark.parametrize("seed", range(40))
def test_random_files_same_as_line_reader(tmp_path, seed):
    """Random files built from well-formed and malformed pieces."""
    rng = np.random.default_rng(seed)
    seqs = ["i_beta", "v_eps", "i_alpha", "v_zeta", "nope", " v_eps", "i_beta\t", ""]
    ints = ["0", "1", "3", "5", "34", "54", "59", "007", "6", "-1", " 2", "x", ""]
    p_bad = [0.0, 0.02, 0.2][seed % 3]
    columns = VERIF if seed % 2 else RETR
    lines = [",".join(columns)]
    for _ in range(int(rng.integers(0, 60))):
        row = []
        for col in columns:
            pool = seqs if col.startswith("s") else ints
            good = 2 if col.startswith("s") else (4 if col.startswith("t") else 6)
            k = int(rng.integers(0, len(pool))) if rng.random() < p_bad else int(rng.integers(0, good))
            row.append(pool[k])
        if rng.random() < p_bad / 10:
            row = row[:-1] if rng.random() < 0.5 else row + ["1"]
        lines.append(",".join(row))
        if rng.random() < p_bad:
            lines.append(" " if rng.random() < 0.5 else "")
    eol = "\r\n" if seed % 5 == 0 else "\n"
    text = eol.join(lines) + (eol if seed % 4 else "")
    p = tmp_path / "t.csv"
    p.write_bytes(text.encode())
    _same(p, columns)


def test_shipped_official_retrieval_files_same_as_line_reader():
    for split in ("a", "view"):
        for kind in T.RETR_KINDS:
            p = T.RESOURCES / T.RETR_FILES[kind].format(split=split)
            seqs = sorted({ln.split(",")[0] for ln in p.read_text().splitlines()[1:]})
            counts = {s: 10**6 for s in seqs}  # the names come from the file, in sorted order
            names, old_names = [], []
            assert np.array_equal(T.read_task_csv(p, RETR, names, counts),
                                  old_read_task_csv(p, RETR, old_names, counts))
            assert names == old_names


def test_large_file_same_as_line_reader(tmp_path):
    rng = np.random.default_rng(0)
    n = 20000
    names = sorted(COUNTS)
    s1, s2 = rng.integers(0, 5, n), rng.integers(0, 5, n)
    cnt = np.array([COUNTS[s] for s in names])
    rows = [f"{names[a]},{b},{c},{names[d]},{e},{f}" for a, b, c, d, e, f in zip(
        s1, rng.integers(0, 6, n), rng.integers(0, cnt[s1]), s2, rng.integers(0, 6, n), rng.integers(0, cnt[s2]))]
    p = tmp_path / "big.csv"
    p.write_text("s1,t1,idx1,s2,t2,idx2\n" + "\n".join(rows) + "\n")
    _same(p, VERIF)


FAST = ["plain", "no trailing newline", "crlf", "crlf no trailing", "header only", "header only no newline",
        "header spaces", "blank lines", "blank last line no newline", "blank then bad", "too few fields", "too many fields", "unknown sequences",
        "unknown in s2 only", "dataset names appended sorted", "empty name", "long numbers", "long number out of range", "index out of range",
        "index out of range in idx2", "image id 6"]


@pytest.mark.parametrize("case", FAST)
def test_plain_files_take_the_vectorised_path(tmp_path, monkeypatch, case):
    p = tmp_path / "v.csv"
    p.write_bytes(CASES[case].encode())
    expected = _outcome(old_read_task_csv, p, VERIF)

    def no_line_reader(*a, **k):
        raise AssertionError("line reader used")

    monkeypatch.setattr(taskcsv, "_read_lines", no_line_reader)
    assert _outcome(T.read_task_csv, p, VERIF) == expected


@pytest.mark.parametrize("case", sorted(set(CASES) - set(FAST)))
def test_other_files_take_the_line_reader(tmp_path, case):
    p = tmp_path / "v.csv"
    p.write_bytes(CASES[case].encode())
    assert taskcsv.parse_task_bytes(p, p.read_bytes(), VERIF) is None


def test_parsed_files_are_cached_by_content(tmp_path, monkeypatch):
    p, cache = tmp_path / "v.csv", tmp_path / "cache"
    p.write_bytes(CASES["dataset names appended sorted"].encode())
    first = _outcome(lambda *a: T.read_task_csv(*a, cache_dir=cache), p, VERIF)
    assert first == _outcome(old_read_task_csv, p, VERIF)
    assert len(list((cache / taskcsv.CACHE_SUBDIR).glob("*.npz"))) == 1

    real_parse = taskcsv.parse_task_bytes
    monkeypatch.setattr(taskcsv, "parse_task_bytes", lambda *a: pytest.fail("parsed again"))
    assert _outcome(lambda *a: T.read_task_csv(*a, cache_dir=cache), p, VERIF) == first  # names appended again

    p.write_bytes(CASES["dataset names appended sorted"].replace("v_zeta,1,2", "v_zeta,1,3").encode())  # same size
    with pytest.raises(pytest.fail.Exception, match="parsed again"):
        T.read_task_csv(p, VERIF, list(NAMES), COUNTS, cache_dir=cache)
    monkeypatch.setattr(taskcsv, "parse_task_bytes", real_parse)
    assert T.read_task_csv(p, VERIF, list(NAMES), COUNTS, cache_dir=cache)[1, 5] == 3
    assert len(list((cache / taskcsv.CACHE_SUBDIR).glob("*.npz"))) == 2

    for f in (cache / taskcsv.CACHE_SUBDIR).glob("*.npz"):
        f.write_bytes(b"not a zip")  # an unreadable entry is parsed again, not an error
    assert T.read_task_csv(p, VERIF, list(NAMES), COUNTS, cache_dir=cache)[1, 5] == 3


def test_cached_file_still_checks_against_the_dataset(tmp_path):
    p, cache = tmp_path / "v.csv", tmp_path / "cache"
    p.write_bytes(CASES["plain"].encode())
    T.read_task_csv(p, VERIF, list(NAMES), COUNTS, cache_dir=cache)
    small = dict(COUNTS, v_eps=10)
    with pytest.raises(DataFormatError, match="patch index 59 out of range for v_eps"):
        T.read_task_csv(p, VERIF, list(NAMES), small, cache_dir=cache)
    with pytest.raises(DataFormatError, match=r"v\.csv:2: sequence 'i_beta' is not in the dataset"):
        T.read_task_csv(p, VERIF, [], {"v_eps": 60}, cache_dir=cache)


def test_benchmark_caches_task_files_unless_no_cache(tiny, tmp_path, monkeypatch):
    from hpdesc.benchmark.evaluate import evaluate
    from hpdesc.data.store import open_dataset

    tasks = tmp_path / "tasks"
    with open_dataset(tiny["dataset"]) as ds:
        T.write_task_csvs(T.load_tasks(ds, "a"), tasks)
    cache = tmp_path / "bench-cache"
    monkeypatch.setenv("HPDESC_CACHE_DIR", str(cache))
    parsed = tmp_path / "bench-cache" / taskcsv.CACHE_SUBDIR
    a = evaluate(tiny["descriptors"], tiny["dataset"], split="a", tasks_dir=tasks, cache=False)
    assert not cache.exists()  # --no-cache: nothing read or written
    b = evaluate(tiny["descriptors"], tiny["dataset"], split="a", tasks_dir=tasks)
    assert len(list(parsed.glob("*.npz"))) == 5 and a.headline == b.headline
    monkeypatch.setattr(taskcsv, "parse_task_bytes", lambda *a: pytest.fail("parsed again"))
    c = evaluate(tiny["descriptors"], tiny["dataset"], split="a", tasks_dir=tasks, tasks=("verification",))
    assert c.headline["verification"] == a.headline["verification"]


def test_name_hash_collisions_fall_back_to_the_line_reader(tmp_path, monkeypatch):
    """With a degenerate hash (key = last 8-byte word) two names collide; the result is unchanged."""
    counts = {"i_aaaaaa_ending1": 5, "v_bbbbbb_ending1": 5}
    p = tmp_path / "r.csv"
    p.write_text("s,idx\ni_aaaaaa_ending1,1\nv_bbbbbb_ending1,2\ni_aaaaaa_ending1,3\n")
    expected = old_read_task_csv(p, RETR, [], counts)
    monkeypatch.setattr(taskcsv, "_NAME_MULT", np.uint64(0))
    assert taskcsv.parse_task_bytes(p, p.read_bytes(), RETR) is None
    names: list[str] = []
    assert np.array_equal(T.read_task_csv(p, RETR, names, counts), expected)
    assert names == ["i_aaaaaa_ending1", "v_bbbbbb_ending1"]


def test_many_distinct_keys_use_a_binary_search():
    key = np.arange(300_000, dtype=np.uint64)[::-1] * np.uint64(0x9E3779B97F4A7C15)
    inv, n = taskcsv._small_inverse(key)
    assert n == key.size and np.array_equal(np.sort(key)[inv], key)
    inv, n = taskcsv._small_inverse(key[:1000])
    assert n == 1000 and np.array_equal(np.sort(key[:1000])[inv], key[:1000])


def test_a_full_tasks_folder_does_not_read_the_stored_pairs(tiny, tmp_path, monkeypatch):
    from hpdesc.benchmark.evaluate import evaluate
    from hpdesc.data.store import open_dataset

    tasks = tmp_path / "tasks"
    with open_dataset(tiny["dataset"]) as ds:
        T.write_task_csvs(T.load_tasks(ds, "a"), tasks)
    own = evaluate(tiny["descriptors"], tiny["dataset"], split="a", cache=False)
    monkeypatch.setattr(T, "stored_tasks", lambda *a: pytest.fail("stored tasks read, though every file replaces them"))
    full = evaluate(tiny["descriptors"], tiny["dataset"], split="a", tasks_dir=tasks, cache=False)
    assert full.headline == own.headline and full.breakdown == own.breakdown
    (tasks / "retr_distractors_split-a.csv").unlink()  # one part missing: the stored one fills it in (and is read)
    monkeypatch.undo()
    part = evaluate(tiny["descriptors"], tiny["dataset"], split="a", tasks_dir=tasks, cache=False)
    assert part.headline == own.headline and any("retr_distractors_split-a.csv not in" in n for n in part.notes)
