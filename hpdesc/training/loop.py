"""The epoch loop of one training stage: batches in, checkpoint + history + watchdog out."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from hpdesc.data.batches import Prefetch
from hpdesc.progress import Reporter
from hpdesc.training import callbacks as cb
from hpdesc.training import fast
from hpdesc.training.run import RunDir


class SessionLimit(Exception):
    """Raised after ``max_epochs_this_session`` epochs: the run stops cleanly and can be resumed."""


@dataclass
class EpochBudget:
    """Shared counter of epochs this process may still run (``None`` = unlimited)."""

    left: int | None = None

    def take(self) -> None:
        if self.left is not None:
            if self.left <= 0:
                raise SessionLimit()
            self.left -= 1


@dataclass
class EarlyStopping:
    """The patience rule, one copy for the live loop and for the replay on resume.

    An epoch improves only if its validation loss is strictly below the best so far (a tie, a
    missing or a NaN loss is no improvement); training stops once ``patience`` epochs in a row did
    not improve (``patience=0``: never).
    """

    patience: int = 0
    best: float = math.inf
    since_best: int = 0

    def update(self, val_loss: float | None) -> None:
        if val_loss is not None and val_loss < self.best:
            self.best, self.since_best = float(val_loss), 0
        else:
            self.since_best += 1

    @property
    def exhausted(self) -> bool:
        return bool(self.patience) and self.since_best >= self.patience


LOSS_READBACK = 32  # training steps between host read-backs of device losses (one sync per chunk)


def train_epoch(trainer, batches: Iterator, *, epoch: int, watchdog: cb.Watchdog, prefetch: int = 4,
                reporter: Reporter | None = None, readback: int = LOSS_READBACK) -> list[float]:
    """One epoch of ``trainer.train_on_batch`` over ``batches``; returns the per-step losses.

    A loss that is still on the device (the JAX fast path) is read back ``readback`` steps at a
    time, not every step, so the host never waits for the device mid-chunk; the watchdog then sees
    each step's loss (with its step number) at the end of its chunk, and a NaN still stops the run.
    Losses that are already host numbers (Keras' ``train_on_batch``) are checked at once. Batches
    go to the device in the prefetch thread where the trainer can (``trainer.prepare``), and the
    trainer's device state is written back to the Keras variables at the end (``trainer.sync``).
    """
    reporter = reporter or Reporter()
    prepare = getattr(trainer, "prepare", None)
    if prepare is not None:
        batches = map(prepare, batches)
    losses: list[float] = []
    pending: list = []

    def flush():
        for value in fast.to_host(pending):
            watchdog.check_loss(value, epoch + 1, len(losses) + 1)
            losses.append(value)
        reporter.advance(len(pending), loss=losses[-1])
        pending.clear()

    for x, y in Prefetch(batches, prefetch):
        loss = trainer.train_on_batch(x, y, return_dict=True)["loss"]
        pending.append(loss)
        if len(pending) >= readback or not fast.is_device_value(loss):
            flush()
    if pending:
        flush()
    sync = getattr(trainer, "sync", None)
    if sync is not None:
        sync()
    return losses


def fit_stage(stage: str, trainer, make_batches: Callable[[int], Iterator], steps: int,
              validate: Callable[[], dict], *, run: RunDir, epochs: int, watchdog: cb.Watchdog,
              loss_name: str, prefetch: int = 4, patience: int = 0, reporter: Reporter | None = None,
              budget: EpochBudget | None = None, after_epoch: Callable[[int], None] | None = None) -> list[dict]:
    """Train ``trainer`` for ``epochs`` epochs (resuming from the stage's checkpoint if present).

    ``make_batches(epoch)`` yields ``(x, y)`` pairs (``y`` may be None) for one epoch; ``validate()``
    returns ``{"val_loss": ..., ...}``. After every epoch: checkpoint (weights + optimizer),
    history CSV, learning-curve PNG, TensorBoard scalars, run state. Returns the history rows.
    """
    reporter = reporter or Reporter()
    budget = budget or EpochBudget()
    trainer = fast.adapt(trainer)  # the jitted JAX step where it applies (docs/performance.md)
    ckpt = run.checkpoint(stage)
    start = 0
    rows: list[dict] = []
    if ckpt.exists():
        start = cb.load_checkpoint(ckpt, trainer)
        rows = [r for r in cb.read_history(run.history(stage)) if r["epoch"] <= start]
        reporter.log(f"{stage}: resumed after epoch {start}")
    tb = cb.TensorBoardLog(run.tensorboard(stage))
    if tb.note and start == 0:
        reporter.log(tb.note)
    stopper = EarlyStopping(patience)
    for r in rows:  # replay the epochs already done: a resumed run stops where an uninterrupted one would
        stopper.update(r.get("val_loss"))
    try:
        for epoch in range(start, epochs):
            if stopper.exhausted:
                reporter.log(f"{stage}: no validation improvement for {patience} epochs; stopping early")
                break
            budget.take()
            t0 = time.perf_counter()
            reporter.start(f"{stage} epoch {epoch + 1}/{epochs}", steps)
            losses = train_epoch(trainer, make_batches(epoch), epoch=epoch, watchdog=watchdog,
                                 prefetch=prefetch, reporter=reporter)
            reporter.done()
            if after_epoch is not None:
                after_epoch(epoch)
            row = {"epoch": epoch + 1, "loss": float(np.mean(losses))}
            row.update(validate())
            row["seconds"] = round(time.perf_counter() - t0, 3)
            watchdog.check_loss(row.get("val_loss", 0.0), epoch + 1, steps)
            watchdog.check_epoch(epoch + 1, row["loss"], row.get("spread"))
            rows.append(row)
            cb.save_checkpoint(ckpt, trainer, epoch + 1)
            cb.write_history(run.history(stage), rows)
            cb.plot_curves(run.curves(stage), rows, stage, loss_name)
            tb.log(epoch + 1, row)
            reporter.log(f"{stage} epoch {epoch + 1}/{epochs}: " +
                         ", ".join(f"{k}={v:.4g}" for k, v in row.items() if k not in ("epoch", "seconds")) +
                         f" ({row['seconds']:.1f}s)")
            stopper.update(row.get("val_loss"))
    finally:
        tb.close()
    return rows
