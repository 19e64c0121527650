"""A run saved before inert parameters were refused still resumes, and says what it dropped.

The README once suggested ``--set denoiser.alpha=0.2`` on a ReLU DnCNN: that ``alpha`` did
nothing, and such runs' ``config.toml`` holds it. Resuming must rebuild the same network (it is
the same without ``alpha``); a new run from that config is refused like any inert parameter.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny import TINY, make_tiny_dataset  # noqa: E402

import hpdesc  # noqa: E402
from hpdesc.errors import UsageError  # noqa: E402

DENOISER_ONLY = [s for s in TINY if not s.startswith("descriptor.")] + ["descriptor=none",
                                                                       "benchmark.enabled=false"]


class Notes:
    """A progress sink that keeps the log lines."""

    def __init__(self):
        self.lines: list[str] = []

    def start(self, description, total):
        pass

    def advance(self, n=1, **fields):
        pass

    def done(self):
        pass

    def log(self, message):
        self.lines.append(message)


def test_old_run_with_inert_alpha_resumes(tmp_path):
    data = make_tiny_dataset(tmp_path / "tiny.h5", n_seq=4, n_patches=6)
    out = tmp_path / "run"
    first = hpdesc.train(data=data, sets=DENOISER_ONLY, epochs=2, out=out, max_epochs_this_session=1)
    assert first.status == "interrupted"
    # what the old code saved for `--set denoiser.alpha=0.2` on the default (ReLU) DnCNN
    cfg = out / "config.toml"
    cfg.write_text(cfg.read_text().replace('[denoiser]\nname = "dncnn"\n', '[denoiser]\nname = "dncnn"\nalpha = 0.2\n'))
    assert "alpha = 0.2" in cfg.read_text()
    saved = cfg.read_text()

    notes = Notes()
    done = hpdesc.train(resume=out, progress=notes)
    assert done.finished
    assert [r["epoch"] for r in done.history["denoiser"]] == [1, 2]
    assert any("denoiser.alpha" in n and "no effect" in n for n in notes.lines), notes.lines
    assert cfg.read_text() == saved  # the run's record is not rewritten

    with pytest.raises(UsageError, match="'alpha' only applies with activation=leaky_relu"):
        hpdesc.train(config=cfg, out=tmp_path / "again")
