"""One progress protocol: the data layer's (done, total) callbacks drawn on a Reporter."""

from __future__ import annotations

from hpdesc.progress import steps
from tests.benchmark.test_evaluate_progress import Recorder  # the benchmark tests' recording Reporter


def test_steps_start_one_bar_and_move_it():
    rec = Recorder()
    update = steps(rec, "building")
    for done in (1, 2, 2, 5):
        update(done, 5)
    assert rec.events == [("start", "building", 5), ("advance", 1), ("advance", 1), ("advance", 3)]


def test_the_embedded_dataset_bar_moves(tmp_path, monkeypatch):
    """default_data_path draws the build on the reporter (the bar used to stay at 0)."""
    from hpdesc.data import cache
    from hpdesc.inference.datasets import default_data_path

    def fake_default_dataset(progress=None, tasks=None):
        for i in range(3):
            progress(i + 1, 3)
        return tmp_path / "d.h5"

    monkeypatch.setattr(cache, "default_dataset", fake_default_dataset)
    rec = Recorder()
    assert default_data_path(rec) == tmp_path / "d.h5"
    assert sum(n for kind, *rest in rec.events if kind == "advance" for n in rest) == 3
