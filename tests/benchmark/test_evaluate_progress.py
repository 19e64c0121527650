"""evaluate() reports through the one progress protocol (hpdesc.progress.Reporter)."""

from __future__ import annotations

from hpdesc.benchmark.evaluate import evaluate
from hpdesc.progress import Reporter


class Recorder(Reporter):
    def __init__(self):
        self.events = []

    def start(self, description, total):
        self.events.append(("start", description, total))

    def advance(self, n=1, **fields):
        self.events.append(("advance", n))

    def done(self):
        self.events.append(("done",))


def _bars(events):
    """[(description, total, steps advanced)] per start ... done."""
    bars = []
    for e in events:
        if e[0] == "start":
            bars.append([e[1], e[2], 0, False])
        elif e[0] == "advance":
            bars[-1][2] += e[1]
        else:
            bars[-1][3] = True
    return bars


def test_one_bar_per_task_that_runs_to_its_total(tiny, tmp_path):
    rec = Recorder()
    evaluate(tiny["descriptors"], split="a", cache=tmp_path / "c", reporter=rec)
    bars = _bars(rec.events)
    assert [b[0] for b in bars] == [f"desc.h5: {t}" for t in ("verification", "matching", "retrieval")]
    for desc, total, advanced, done in bars:
        assert total and advanced == total and done, (desc, total, advanced, done)
    rec2 = Recorder()  # cached: no work, no bar
    evaluate(tiny["descriptors"], split="a", cache=tmp_path / "c", reporter=rec2)
    assert rec2.events == []
