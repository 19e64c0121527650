"""Per-epoch bookkeeping: history CSV, learning curves, checkpoints, TensorBoard, the watchdog."""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path

import numpy as np

from hpdesc.atomic import atomic_path, write_text_atomic
from hpdesc.errors import TrainingError


# -- history ------------------------------------------------------------------------------------
def read_history(path) -> list[dict]:
    p = Path(path)
    if not p.exists():
        return []
    with p.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        out.append({k: (float(v) if k != "epoch" else int(v)) if v not in ("", None) else None
                    for k, v in r.items()})
    return out


def write_history(path, rows: list[dict]) -> None:
    """Rewrite the whole CSV atomically (an epoch is either fully recorded or not at all)."""
    keys: list[str] = []
    for r in rows:
        for k in r:
            if k not in keys:
                keys.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in keys})
    write_text_atomic(path, buf.getvalue())


def plot_curves(path, rows: list[dict], stage: str, loss_name: str = "") -> None:
    """Train vs validation loss per epoch, as in the report's figures (PNG)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    ax.plot(epochs, [r.get("loss") for r in rows], "o-", label="train")
    if any(r.get("val_loss") is not None for r in rows):
        ax.plot(epochs, [r.get("val_loss") for r in rows], "s-", label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"loss ({loss_name})" if loss_name else "loss")
    ax.set_title(f"{stage} learning curve")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


# -- checkpoints ------------------------------------------------------------------------------------
def save_checkpoint(path, trainer, epoch: int) -> None:
    """Model weights and optimizer variables after ``epoch`` (npz, written atomically)."""
    from keras import ops

    arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(trainer.get_weights())}
    opt = trainer.optimizer
    if opt is not None and opt.built:
        for i, v in enumerate(opt.variables):
            arrays[f"o{i}"] = np.asarray(ops.convert_to_numpy(v))
    arrays["epoch"] = np.asarray(epoch)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_checkpoint(path, trainer) -> int:
    """Restore weights and optimizer state; returns the epoch the checkpoint was taken after."""
    with np.load(path) as z:
        weights = [z[f"w{i}"] for i in range(sum(k.startswith("w") for k in z.files))]
        trainer.set_weights(weights)
        n_opt = sum(k.startswith("o") for k in z.files)
        if n_opt:
            opt = trainer.optimizer
            if not opt.built:
                opt.build(trainer.trainable_variables)
            if len(opt.variables) != n_opt:
                raise TrainingError(f"{path}: checkpoint has {n_opt} optimizer variables, "
                                    f"the optimizer has {len(opt.variables)}; the config changed?")
            for i, v in enumerate(opt.variables):
                v.assign(z[f"o{i}"])
        return int(z["epoch"])


def save_keras(model, path) -> Path:
    """``model.save`` atomically (a temporary name that keeps the ``.keras`` suffix Keras insists on)."""
    target = Path(path)
    with atomic_path(target, keep_suffix=True) as tmp:
        model.save(tmp)
    return target


# -- TensorBoard ------------------------------------------------------------------------------------
class TensorBoardLog:
    """Scalar summaries per epoch (TensorBoard's event files, :mod:`hpdesc.training.tbevents`).

    Written in plain Python, so logging never loads TensorFlow on the JAX or torch backends; if
    the folder cannot be written the logger is a no-op and says so once.
    """

    def __init__(self, logdir):
        from hpdesc.training.tbevents import EventWriter

        self.logdir = Path(logdir)
        self._writer = None
        self.note = None
        try:
            self._writer = EventWriter(self.logdir)
        except OSError as exc:  # logging must never stop training
            self.note = f"TensorBoard logs skipped ({type(exc).__name__}: {exc})"

    def log(self, epoch: int, values: dict) -> None:
        if self._writer is None:
            return
        try:
            self._writer.scalars(epoch, {k: v for k, v in values.items() if v is not None and k != "epoch"})
        except OSError as exc:  # logging must never stop training
            self.note = f"TensorBoard logs skipped ({type(exc).__name__}: {exc})"
            self._writer = None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


# -- watchdog ------------------------------------------------------------------------------------------
def mean_pairwise_distance(desc: np.ndarray) -> float:
    """Mean L2 distance between all pairs of rows of ``desc`` ``(N, D)``."""
    d = np.asarray(desc, dtype=np.float64)
    sq = np.sum(d * d, axis=1)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * d @ d.T, 0.0)
    n = d.shape[0]
    if n < 2:
        return float("nan")
    return float(np.sqrt(dist2)[np.triu_indices(n, 1)].mean())


class Watchdog:
    """Catches the classic failures of triplet training: NaN, collapse, loss stuck at the margin.

    ``mode``: ``"stop"`` raises :class:`TrainingError`, ``"warn"`` emits a warning (via ``warn``),
    ``"off"`` checks nothing. ``margin`` is the triplet margin (None: no stuck check).
    """

    def __init__(self, stage: str, mode: str = "stop", collapse_distance: float = 0.01,
                 stuck_epochs: int = 3, margin: float | None = None, hint: str = "", warn=None):
        self.stage = stage
        self.mode = mode
        self.collapse_distance = collapse_distance
        self.stuck_epochs = stuck_epochs
        self.margin = margin
        self.hint = hint
        self._stuck = 0
        self._warn = warn or (lambda msg: warnings.warn(msg, RuntimeWarning, stacklevel=2))
        self.warnings: list[str] = []

    def _fail(self, message: str) -> None:
        if self.mode == "stop":
            raise TrainingError(message, hint=self.hint or None)
        if self.mode == "warn":
            self.warnings.append(message)
            self._warn(f"warning: {message}")

    def check_loss(self, loss: float, epoch: int, step: int) -> None:
        if self.mode != "off" and not math.isfinite(loss):
            # NaN cannot be warned past: the weights are gone
            raise TrainingError(
                f"{self.stage} loss became {loss} at epoch {epoch}, step {step}: training diverged",
                hint=self.hint or "lower the learning rate, e.g. --set "
                     f"{self.stage}_optimizer.learning_rate=1e-4")

    def check_epoch(self, epoch: int, loss: float, spread: float | None = None) -> None:
        if self.mode == "off":
            return
        if spread is not None and math.isfinite(spread) and spread < self.collapse_distance:
            self._fail(f"{self.stage} collapsed at epoch {epoch}: all descriptors are at one point "
                       f"(mean pairwise distance {spread:.2e} < {self.collapse_distance:g})")
        if self.margin:
            if abs(loss - self.margin) <= 0.002 * self.margin:  # collapsed: hinge = margin exactly
                self._stuck += 1
            else:
                self._stuck = 0
            if self.stuck_epochs and self._stuck >= self.stuck_epochs:
                self._fail(f"{self.stage} loss stuck at the margin ({loss:.4f} ~ {self.margin:g}) for "
                           f"{self._stuck} epochs: the descriptor is not learning")


# -- batch-norm statistics ------------------------------------------------------------------------
def recalibrate_batchnorm(model, batches, forward=None) -> bool:
    """Set every BatchNormalization layer's moving mean/variance to the exact average over ``batches``.

    With short training budgets (tens of steps) Keras' moving averages (momentum 0.99) still
    remember their initial values, so the model behaves very differently at inference than in
    training; recomputing the statistics with the current weights fixes that. Returns False when
    the model has no batch-norm layer. ``forward(x)`` replaces ``model(x, training=True)`` (several
    workers: :meth:`hpdesc.training.distribute.Cluster.stats_forward`).
    """
    from hpdesc.models.walk import batchnorm_layers  # hpdesc.models imports Keras (its layers register)

    layers = batchnorm_layers(model)
    if not layers:
        return False
    old = [la.momentum for la in layers]
    forward = forward or (lambda x: model(x, training=True))
    try:
        for k, x in enumerate(batches):
            for la in layers:
                la.momentum = k / (k + 1.0)  # running mean of the per-batch statistics
            forward(x)
    finally:
        for la, m in zip(layers, old):
            la.momentum = m
    return True
