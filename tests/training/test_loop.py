"""fit_stage with a fake trainer: early stopping gives the same epochs whether or not a run resumes."""

from __future__ import annotations

import numpy as np
import pytest

from hpdesc.training import callbacks as cb
from hpdesc.training.loop import EpochBudget, SessionLimit, fit_stage
from hpdesc.training.run import RunDir


class FakeTrainer:
    """Just what fit_stage and the checkpoint functions use; its one weight counts epochs trained."""

    optimizer = None

    def __init__(self):
        self.epochs = np.zeros((), np.float32)

    def train_on_batch(self, x, y, return_dict=True):
        return {"loss": 1.0}

    def get_weights(self):
        return [self.epochs.copy()]

    def set_weights(self, weights):
        self.epochs = np.asarray(weights[0], np.float32)


class _NoTensorBoard:
    note = None

    def __init__(self, logdir): ...

    def log(self, epoch, values): ...

    def close(self): ...


@pytest.fixture(autouse=True)
def _no_tensorboard(monkeypatch):
    # the bookkeeping that is not under test: no TensorFlow import, no figures (a fast test)
    monkeypatch.setattr(cb, "TensorBoardLog", _NoTensorBoard)
    monkeypatch.setattr(cb, "plot_curves", lambda *a, **k: None)


def _fit(run_dir, val_losses, patience, budget=None):
    """fit_stage over a scripted validation-loss history (epoch k reports val_losses[k-1])."""
    trainer = FakeTrainer()

    def make_batches(epoch):
        assert int(trainer.epochs) == epoch  # the checkpoint restored the trainer
        trainer.epochs = trainer.epochs + 1
        yield np.zeros(1), None

    def validate():
        return {"val_loss": val_losses[int(trainer.epochs) - 1]}

    return fit_stage("denoiser", trainer, make_batches, 1, validate, run=RunDir(run_dir),
                     epochs=len(val_losses), watchdog=cb.Watchdog("denoiser"), loss_name="mae",
                     prefetch=0, patience=patience, budget=budget)


HISTORIES = [
    # ties: a repeated best is no improvement, so patience runs out at epoch 4
    ([1.0, 0.5, 0.5, 0.5, 0.4, 0.4, 0.3, 0.3], 2),
    ([1.0, 1.0, 1.0, 0.9, 0.9, 0.9, 0.9, 0.8], 3),
    ([0.9, 0.8, 0.8, 0.7, 0.7, 0.7, 0.6, 0.6], 2),
    # strict improvements, then a plateau
    ([1.0, 0.9, 0.8, 1.1, 1.2, 0.7, 0.6, 0.5], 2),
    ([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3], 1),
]


@pytest.mark.parametrize("val_losses,patience", HISTORIES)
def test_resumed_patience_run_stops_at_the_same_epoch(tmp_path, val_losses, patience):
    whole = _fit(tmp_path / "whole", val_losses, patience)
    stopped = [r["epoch"] for r in whole]
    for k in range(1, len(stopped) + 1):  # interrupt after each epoch the whole run trained
        d = tmp_path / f"cut{k}"
        try:
            rows = _fit(d, val_losses, patience, budget=EpochBudget(k))
        except SessionLimit:
            rows = _fit(d, val_losses, patience)
        assert [r["epoch"] for r in rows] == stopped, f"interrupted after epoch {k}"
        assert [r["val_loss"] for r in rows] == [r["val_loss"] for r in whole]


def test_ties_are_no_improvement(tmp_path):
    rows = _fit(tmp_path / "run", [1.0, 0.5, 0.5, 0.5, 0.4, 0.4, 0.3, 0.3], patience=2)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]


def test_patience_zero_runs_every_epoch(tmp_path):
    rows = _fit(tmp_path / "run", [1.0, 1.0, 1.0, 1.0], patience=0)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]


def test_early_stopping_rule():
    from hpdesc.training.loop import EarlyStopping

    s = EarlyStopping(2)
    for v in (1.0, None, 1.0):  # a missing loss and a tie count as epochs without improvement
        s.update(v)
    assert s.since_best == 2 and s.exhausted and s.best == 1.0
    s.update(0.5)
    assert s.since_best == 0 and not s.exhausted
    assert not EarlyStopping(0, since_best=100).exhausted
