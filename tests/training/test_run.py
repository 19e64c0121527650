"""Direct tests of hpdesc.training.run: run-directory paths, run state, new runs, the ``latest`` pointer.

Run folders are made by hand (no training, no Keras), the way the pipeline lays them out.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from hpdesc.config import RunConfig
from hpdesc.errors import UsageError, WriteError
from hpdesc.training import run as R
from hpdesc.training.run import LATEST, RunDir, latest_run, new_run_dir, runs_root, set_latest

STAMP = "20240102-030405"


@pytest.fixture
def frozen_clock(monkeypatch):
    """Every run is created in the same second (2024-01-02 03:04:05)."""

    class _Clock(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2024, 1, 2, 3, 4, 5)

    class _Module:
        datetime = _Clock

    monkeypatch.setattr(R, "_dt", _Module)


def _make_run(path: Path, mtime: float | None = None, finished: bool = True) -> RunDir:
    """A run folder as ``hpdesc train`` leaves it: the folder, its config.toml and (``finished``)
    a state that says it trained."""
    path.mkdir(parents=True)
    RunConfig().save(path / "config.toml")
    if finished:
        (path / "state.json").write_text('{"finished": true}')
    if mtime is not None:
        os.utime(path / "config.toml", (mtime, mtime))
    return RunDir(path)


# -- paths ----------------------------------------------------------------------------------------
def test_rundir_paths_follow_the_documented_layout(tmp_path):
    run = RunDir(tmp_path / "r")
    p = tmp_path / "r"
    assert run.path == p
    assert run.config == p / "config.toml"
    assert run.model("denoiser") == p / "denoiser.keras"
    assert run.model("descriptor") == p / "descriptor.keras"
    assert run.history("denoiser") == p / "history_denoiser.csv"
    assert run.curves("descriptor") == p / "curves_descriptor.png"
    assert run.benchmark == p / "benchmark.json"
    assert run.descriptors == p / "descriptors_test.h5"
    assert run.tensorboard("denoiser") == p / "tensorboard" / "denoiser"
    assert run.checkpoints == p / "checkpoints"
    assert run.checkpoint("descriptor") == p / "checkpoints" / "descriptor_last.npz"
    assert run.state_path == p / "state.json"
    assert os.fspath(run) == str(p)
    assert repr(run) == f"RunDir({str(p)!r})"
    assert not p.exists()  # naming paths creates nothing


def test_rundir_accepts_a_string(tmp_path):
    assert RunDir(str(tmp_path)).config == tmp_path / "config.toml"


# -- state ----------------------------------------------------------------------------------------
def test_state_of_a_run_without_state_json_is_empty(tmp_path):
    run = _make_run(tmp_path / "r", finished=False)
    assert run.state() == {}
    assert not run.state_path.exists()


def test_save_state_round_trips_as_sorted_indented_json(tmp_path):
    run = _make_run(tmp_path / "r", finished=False)
    state = {"finished": True, "denoiser_done": True, "timings": {"denoiser_train": 1.5}}
    run.save_state(state)
    assert run.state() == state
    assert run.state_path.read_text(encoding="utf-8") == json.dumps(state, indent=2, sort_keys=True)


def test_update_state_merges_keeps_other_keys_and_returns_the_whole_state(tmp_path):
    run = _make_run(tmp_path / "r", finished=False)
    assert run.update_state(denoiser_done=True) == {"denoiser_done": True}  # no state.json yet
    st = run.update_state(descriptor_done=True, timings={"a": 1.0})
    assert st == {"denoiser_done": True, "descriptor_done": True, "timings": {"a": 1.0}}
    assert run.state() == st
    st = run.update_state(timings={"b": 2.0})  # a key is replaced, not merged into
    assert run.state() == {"denoiser_done": True, "descriptor_done": True, "timings": {"b": 2.0}}


@pytest.mark.parametrize("content", [b"{not json", b"", b"\xff\xfe\x00garbage"],
                         ids=["bad-json", "empty", "not-utf8"])
def test_corrupt_state_is_a_usage_error_naming_the_file(tmp_path, content):
    run = _make_run(tmp_path / "r", finished=False)
    run.state_path.write_bytes(content)
    with pytest.raises(UsageError, match="corrupt run state") as exc:
        run.state()
    assert str(run.state_path) in str(exc.value)
    with pytest.raises(UsageError, match="corrupt run state"):
        run.update_state(finished=True)
    assert run.state_path.read_bytes() == content  # left as it was


@pytest.mark.parametrize("content", ["[]", "null", "3", '"finished"'])
def test_state_that_is_json_but_not_an_object_is_a_usage_error(tmp_path, content):
    run = _make_run(tmp_path / "r", finished=False)
    run.state_path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match="corrupt run state") as exc:
        run.state()
    assert str(run.state_path) in str(exc.value)
    with pytest.raises(UsageError, match="corrupt run state"):
        run.update_state(finished=True)


def test_a_failed_state_write_leaves_the_old_state(tmp_path):
    run = _make_run(tmp_path / "r", finished=False)
    run.save_state({"denoiser_done": True})
    before = run.state_path.read_bytes()
    with pytest.raises(TypeError):
        run.update_state(timings=object())  # not JSON
    assert run.state_path.read_bytes() == before
    assert sorted(p.name for p in run.path.iterdir()) == ["config.toml", "state.json"]  # no temp file left


# -- check ----------------------------------------------------------------------------------------
def test_check_accepts_a_run_folder(tmp_path):
    run = _make_run(tmp_path / "r", finished=False)
    assert run.check() is run


def test_check_on_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "state.json").write_text("{}")
    with pytest.raises(UsageError) as exc:
        RunDir(tmp_path / "r").check()
    assert str(exc.value) == f"{tmp_path / 'r'}: not an hpdesc run directory (no config.toml)"
    assert exc.value.exit_code == 2


def test_check_on_a_missing_path(tmp_path):
    with pytest.raises(UsageError) as exc:
        RunDir(tmp_path / "nope").check()
    assert str(exc.value) == f"{tmp_path / 'nope'}: no such run directory"


def test_check_on_a_file_says_it_is_not_a_folder(tmp_path):
    f = tmp_path / "model.keras"
    f.write_text("x")
    with pytest.raises(UsageError) as exc:
        RunDir(f).check()
    assert str(exc.value) == f"{f}: not a run directory (it is a file)"


# -- new_run_dir ----------------------------------------------------------------------------------
def test_runs_root_is_the_env_variable_or_runs(monkeypatch, tmp_path):
    monkeypatch.delenv("HPDESC_RUNS", raising=False)
    assert runs_root() == Path("runs")
    monkeypatch.setenv("HPDESC_RUNS", str(tmp_path / "elsewhere"))
    assert runs_root() == tmp_path / "elsewhere"


def test_new_run_dir_is_named_after_time_and_components(tmp_path, frozen_clock):
    run = new_run_dir("dncnn", "hardnet", root=tmp_path / "runs")
    assert run.path == tmp_path / "runs" / f"{STAMP}-dncnn-hardnet"
    assert run.path.is_dir()
    assert list(run.path.iterdir()) == []  # empty: train writes config.toml next


@pytest.mark.parametrize("denoiser,descriptor,name", [
    ("hpdesc-ffdnet:ffdnet", "none", "ffdnet-none"),  # a qualified name keeps its last part
    ("my net/v2", "a*b", "my_net_v2-a_b"),  # characters unsafe in a folder name become _
    ("dist:", "x.y-z_1", "x-x.y-z_1"),  # nothing left: x
])
def test_new_run_dir_slugs_component_names(tmp_path, frozen_clock, denoiser, descriptor, name):
    run = new_run_dir(denoiser, descriptor, root=tmp_path)
    assert run.path == tmp_path / f"{STAMP}-{name}"
    assert run.path.is_dir()


def test_new_run_dir_defaults_to_the_runs_root(tmp_path, monkeypatch, frozen_clock):
    monkeypatch.setenv("HPDESC_RUNS", str(tmp_path / "rr"))
    run = new_run_dir("dncnn", "hardnet")
    assert run.path == tmp_path / "rr" / f"{STAMP}-dncnn-hardnet"
    assert run.path.is_dir()


def test_runs_created_in_the_same_second_get_different_folders(tmp_path, frozen_clock):
    runs = [new_run_dir("dncnn", "hardnet", root=tmp_path) for _ in range(3)]
    base = f"{STAMP}-dncnn-hardnet"
    assert [r.path.name for r in runs] == [base, f"{base}-2", f"{base}-3"]
    assert all(r.path.is_dir() for r in runs)


def test_a_file_with_the_run_name_is_not_reused(tmp_path, frozen_clock):
    (tmp_path / f"{STAMP}-dncnn-hardnet").write_text("not a run")
    run = new_run_dir("dncnn", "hardnet", root=tmp_path)
    assert run.path.name == f"{STAMP}-dncnn-hardnet-2"
    assert (tmp_path / f"{STAMP}-dncnn-hardnet").read_text() == "not a run"


def test_a_folder_taken_after_the_check_is_not_shared(tmp_path, frozen_clock, monkeypatch):
    """Two processes starting a run in the same second: the one that loses the name takes the next."""
    base = tmp_path / f"{STAMP}-dncnn-hardnet"
    base.mkdir()  # the other process made it after this one looked
    real_exists = Path.exists
    monkeypatch.setattr(Path, "exists", lambda self, *a, **k: False if self.parent == tmp_path
                        else real_exists(self, *a, **k))
    run = new_run_dir("dncnn", "hardnet", root=tmp_path)
    monkeypatch.undo()
    assert run.path == tmp_path / f"{STAMP}-dncnn-hardnet-2"
    assert run.path.is_dir()


def test_runs_root_that_is_a_file_is_one_write_error(tmp_path, frozen_clock):
    root = tmp_path / "runs"
    root.write_text("a file")
    with pytest.raises(WriteError) as exc:
        new_run_dir("dncnn", "hardnet", root=root)
    assert str(exc.value) == f"cannot write {root / (STAMP + '-dncnn-hardnet')}: {root} is not a folder"
    assert exc.value.exit_code == 2
    assert root.read_text() == "a file"


def test_runs_root_under_a_file_is_one_write_error(tmp_path, frozen_clock):
    (tmp_path / "f").write_text("a file")
    root = tmp_path / "f" / "runs"
    with pytest.raises(WriteError, match=f"^cannot write {root}/{STAMP}-dncnn-hardnet: {tmp_path / 'f'} is not a folder$"):
        new_run_dir("dncnn", "hardnet", root=root)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_runs_root_where_folders_cannot_be_made_is_one_write_error(frozen_clock):
    root = Path("/proc/self")  # exists, but no folder can be made in it (not even by root)
    with pytest.raises(WriteError, match=f"^cannot write {root}/{STAMP}-dncnn-hardnet: "):
        new_run_dir("dncnn", "hardnet", root=root)


# -- latest ---------------------------------------------------------------------------------------
def test_set_latest_writes_the_absolute_path_of_the_run(tmp_path, monkeypatch):
    run = _make_run(tmp_path / "runs" / "a")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HPDESC_RUNS")
    set_latest(RunDir(Path("runs") / "a"))  # a relative run path is stored absolute
    assert (tmp_path / "runs" / LATEST).read_text(encoding="utf-8") == f"{run.path.resolve()}\n"


def test_latest_pointer_wins_over_the_newest_config(tmp_path):
    root = tmp_path / "runs"
    old = _make_run(root / "old", mtime=1_000_000)
    _make_run(root / "new", mtime=2_000_000)
    assert latest_run(root).path.resolve() == (root / "new").resolve()  # no pointer: newest config
    set_latest(old, root)
    assert latest_run(root).path == old.path.resolve()


def test_latest_run_falls_back_when_the_pointer_is_stale(tmp_path):
    root = tmp_path / "runs"
    gone = _make_run(root / "gone")
    set_latest(gone, root)
    (gone.config).unlink()  # the pointed-at run lost its config (deleted, moved)
    _make_run(root / "b", mtime=1_000_000)
    _make_run(root / "c", mtime=3_000_000)
    _make_run(root / "a", mtime=2_000_000)
    assert latest_run(root).path.resolve() == (root / "c").resolve()


def test_latest_run_ignores_an_unreadable_pointer(tmp_path):
    root = tmp_path / "runs"
    run = _make_run(root / "a")
    (root / LATEST).write_bytes(b"\xff\xfe\x00 not a path")
    assert latest_run(root).path.resolve() == run.path.resolve()


def test_latest_run_uses_the_runs_root_by_default(tmp_path, monkeypatch):
    run = _make_run(tmp_path / "rr" / "a")
    monkeypatch.setenv("HPDESC_RUNS", str(tmp_path / "rr"))
    set_latest(run)
    assert latest_run().path == run.path.resolve()


@pytest.mark.parametrize("layout", ["missing", "empty", "no-config", "stale-pointer"])
def test_latest_run_without_runs_is_a_usage_error(tmp_path, layout):
    root = tmp_path / "runs"
    if layout != "missing":
        root.mkdir()
    if layout == "no-config":
        (root / "half").mkdir()
        (root / "half" / "state.json").write_text("{}")
    if layout == "stale-pointer":
        (root / LATEST).write_text(str(tmp_path / "deleted") + "\n")
    with pytest.raises(UsageError) as exc:
        latest_run(root)
    assert str(exc.value) == f"no runs found under {root}"
    assert exc.value.hint and "hpdesc train" in exc.value.hint


def test_set_latest_on_a_root_it_cannot_write_is_harmless(tmp_path):
    run = _make_run(tmp_path / "runs" / "a")
    (tmp_path / "runs" / LATEST).mkdir()  # the pointer's name is taken by a folder
    set_latest(run)  # no error: the pointer is a convenience
    assert (tmp_path / "runs" / LATEST).is_dir()
    assert latest_run(tmp_path / "runs").path.resolve() == run.path.resolve()


def test_latest_lives_in_the_runs_root_wherever_the_run_is(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("HPDESC_RUNS", str(root))
    elsewhere = _make_run(tmp_path / "mine" / "X")  # train --out mine/X
    (tmp_path / "mine" / LATEST).write_text("my own notes\n")
    assert set_latest(elsewhere) is None
    assert (root / LATEST).read_text() == f"{elsewhere.path.resolve()}\n"
    assert (tmp_path / "mine" / LATEST).read_text() == "my own notes\n"  # a user's file beside the run: untouched
    assert latest_run().path == elsewhere.path.resolve()


def test_set_latest_leaves_a_users_file_in_the_runs_root(tmp_path):
    root = tmp_path / "runs"
    run = _make_run(root / "a")
    (root / LATEST).write_text("line one\nline two\n")
    note = set_latest(run, root)
    assert note and str(root / LATEST) in note and "left as it is" in note
    assert (root / LATEST).read_text() == "line one\nline two\n"


def test_latest_run_skips_runs_that_did_not_finish(tmp_path):
    root = tmp_path / "runs"
    good = _make_run(root / "good", mtime=1_000_000)
    _make_run(root / "failed", mtime=2_000_000, finished=False)  # a train that failed its checks
    assert latest_run(root).path.resolve() == good.path.resolve()
    (good.path / "state.json").unlink()
    with pytest.raises(UsageError, match="^no trained runs found under"):
        latest_run(root)
