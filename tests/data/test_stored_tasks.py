"""Stored benchmark tasks: the data layer writes and reads ``/tasks/<split>`` without importing
the benchmark package; whoever creates a dataset hands the writer a task maker."""

from __future__ import annotations

import ast
from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from hpdesc.data.store import DatasetWriter, add_tasks, open_dataset
from hpdesc.data.tasks import Tasks, load_npz, save_npz, verification_rows
from hpdesc.errors import DataFormatError

DATA = Path(__file__).resolve().parents[2] / "hpdesc" / "data"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def test_data_never_imports_the_benchmark_package():
    files = sorted(DATA.glob("*.py"))
    assert files
    bad = {p.name: sorted(m for m in _imports(p) if m.startswith(("hpdesc.benchmark", "hpdesc.training", "hpdesc.api")))
           for p in files}
    assert not {k: v for k, v in bad.items() if v}


def _toy_tasks(split: str, names: list[str]) -> Tasks:
    parts = {"s": [0, 1, 1], "i1": [0, 1, 0], "i2": [1, 0, 1], "ta": [0, 1, 2], "tb": [3, 4, 0], "s2": [0, 1, 0],
             "j": [1, 1, 0]}
    verif = verification_rows({k: np.array(v) for k, v in parts.items()})
    return Tasks(split, names, verif, np.array([[0, 1]]), np.array([[1, 0], [1, 1]]), {"pos": "toy"}, seed=7)


def _write(path, tasks=None):
    rng = np.random.default_rng(0)
    with DatasetWriter(path, ["i_a", "v_b", "v_c"], [2, 3, 1], {"source": "test"}, tasks=tasks) as w:
        for name, n in (("i_a", 2), ("v_b", 3), ("v_c", 1)):
            w.put(name, rng.integers(0, 255, (n, 16, 32, 32), dtype=np.uint8),
                  rng.integers(0, 255, (n, 16, 32, 32), dtype=np.uint8))
        w.set_split("good", train=["v_c"], test=["i_a", "v_b"])
        w.set_split("bad", train=["i_a"], test=["v_c"])
    return path


def _maker(seen):
    def make(ds, split):
        seen.append((split, ds.split(split)["test"], [ds.count(s) for s in ds.sequences]))
        if split == "bad":
            raise DataFormatError("v_c has one patch")
        return _toy_tasks(split, ds.split(split)["test"])
    return make


def test_writer_stores_what_the_maker_makes_before_the_rename(tmp_path):
    seen = []
    path = _write(tmp_path / "d.h5", _maker(seen))
    assert sorted(s for s, *_ in seen) == ["bad", "good"]  # the maker saw the finished patches
    assert all(counts == [2, 3, 1] for *_, counts in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]
    with open_dataset(path) as ds:
        t = ds.stored_tasks("good")
        want = _toy_tasks("good", ["i_a", "v_b"])
        assert t.content_hash == want.content_hash and t.sources == want.sources and t.seed == 7
        with pytest.raises(DataFormatError, match="no benchmark tasks for split 'bad': v_c has one patch"):
            ds.stored_tasks("bad")
        assert ds.stored_tasks("other") is None


def test_without_a_maker_nothing_is_stored_and_add_tasks_upgrades(tmp_path):
    path = _write(tmp_path / "d.h5")
    with h5py.File(path) as f:
        assert "tasks" not in f
    with open_dataset(path) as ds:
        assert ds.stored_tasks("good") is None
        uid = ds.uid
    seen = []
    assert add_tasks(path, _maker(seen), "good") is True
    assert sorted(s for s, *_ in seen) == ["bad", "good"]  # every missing split, in one rewrite
    assert add_tasks(path, _maker(seen), "good") is False
    with open_dataset(path) as ds:
        assert ds.uid == uid
        assert ds.stored_tasks("good").content_hash == _toy_tasks("good", ["i_a", "v_b"]).content_hash


def test_a_failing_maker_leaves_no_file(tmp_path):
    def boom(ds, split):
        raise RuntimeError("maker bug")

    with pytest.raises(RuntimeError, match="maker bug"):
        _write(tmp_path / "d.h5", boom)
    assert list(tmp_path.iterdir()) == []


def test_task_cache_file_round_trip(tmp_path):
    t = _toy_tasks("good", ["i_a", "v_b"])
    save_npz(tmp_path / "t.npz", t)
    back = load_npz(tmp_path / "t.npz", "good")
    assert back.content_hash == t.content_hash and back.sources == t.sources and back.names == t.names
    assert load_npz(tmp_path / "missing.npz", "good") is None


def test_dataset_commands_store_tasks(tmp_path, monkeypatch):
    """``hpdesc data synth`` and the API's embedded dataset pass the benchmark's task maker."""
    from hpdesc import api
    from hpdesc.cli.main import app
    from hpdesc.data import cache

    out = tmp_path / "s.h5"
    res = CliRunner().invoke(app, ["data", "synth", "--sequences", "4", "--patches", "6", "--out", str(out)])
    assert res.exit_code == 0, res.output
    monkeypatch.setattr(cache, "DEFAULT_SEQUENCES", 4)
    monkeypatch.setattr(cache, "DEFAULT_PATCHES", 6)
    monkeypatch.setenv("HPDESC_HOME", str(tmp_path / "home"))
    for path in (out, api.default_data_path()):
        with open_dataset(path) as ds:
            assert ds.stored_tasks("default").names == ds.split("default")["test"]
