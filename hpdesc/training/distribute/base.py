"""The engine-neutral half of data-parallel training: the :class:`Cluster` interface, its shared logic, the config check.

A :class:`Cluster` says who this process is in a run (workers, replicas, chief) and does what
does not depend on the engine: sharding the training sequences, per-worker batch sizes and random
streams, learning-rate scaling, the non-chief's scratch run directory, peer-failure errors. Its
engine hooks (:meth:`Cluster.trainer`, :meth:`~Cluster.stats_forward`,
:meth:`~Cluster.for_inference`, :meth:`~Cluster.alone`, :meth:`~Cluster.is_peer_failure`) are the
single-device behaviour here; :class:`hpdesc.training.distribute.tf.TFCluster` and
:class:`hpdesc.training.distribute.jax.JaxCluster` override them.

Imports nothing heavy at module level (not even numpy). The valid modes and their check
(:func:`check_config`) are configuration values, owned by :mod:`hpdesc.config`.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

# the valid modes are configuration values: hpdesc.config owns them and their check
from hpdesc.config import DISTRIBUTE_MODES as MODES
from hpdesc.config import LR_SCALINGS
from hpdesc.config import check_distribute as check_config
from hpdesc.errors import ConfigError, TrainingError, UsageError

# exception class names of a collective whose peer died or stalled: TensorFlow's errors, named
# after the gRPC / absl status codes (JAX reports the same codes in its messages: jax.py)
PEER_ERRORS = ("UnavailableError", "DeadlineExceededError", "AbortedError", "CancelledError", "InternalError")


@dataclass
class Cluster:
    """Who this process is in a data-parallel run, and the engine object that runs it.

    This class is also the single-device cluster: its engine hooks do nothing.
    """

    mode: str = "none"
    backend: str = ""
    num_workers: int = 1
    worker_index: int = 0
    num_replicas: int = 1  # over all workers
    local_replicas: int = 1
    strategy: Any = None  # tf.distribute.Strategy, or a keras.distribution.Distribution on JAX
    lr_scaling: str = "none"
    peer_failed: bool = False  # a collective failed because another worker died
    _scratch: list = field(default_factory=list)

    @property
    def distributed(self) -> bool:
        return self.mode != "none"

    @property
    def is_chief(self) -> bool:
        return self.worker_index == 0

    # -- construction scope -----------------------------------------------------------------
    def scope(self):
        """Where models, optimizers and trainers are built (variables mirrored over replicas)."""
        if self.strategy is None:
            return contextlib.nullcontext()
        return self.strategy.scope()

    # -- data ---------------------------------------------------------------------------------
    def shard(self, sequences: Sequence[str]) -> list[str]:
        """This worker's training sequences: ``sorted(sequences)[k::n]``."""
        names = sorted(sequences)
        if self.num_workers == 1:
            return list(sequences)
        if len(names) < self.num_workers:
            raise UsageError(f"{len(names)} training sequences cannot be shared by {self.num_workers} workers",
                             hint="use fewer workers or a dataset with more sequences")
        return names[self.worker_index::self.num_workers]

    def local_batch(self, global_batch: int, key: str = "batch size") -> int:
        """Samples this worker draws per step for a ``global_batch`` over all replicas."""
        if global_batch % self.num_replicas:
            raise ConfigError(f"training.{key} = {global_batch} is not divisible by the {self.num_replicas} "
                              "replicas of this run",
                              hint=f"use a multiple of {self.num_replicas}, e.g. --batch-size "
                                   f"{max(1, global_batch // self.num_replicas) * self.num_replicas}")
        return global_batch // self.num_replicas * self.local_replicas

    def rng(self, seed: int, stage: str, epoch: int):
        """The sampling ``np.random.Generator`` of ``(seed, stage, epoch)``; a worker-specific stream when n > 1."""
        import numpy as np

        from hpdesc.data.batches import STAGE_IDS, rng_for

        if self.num_workers == 1:
            return rng_for(seed, stage, epoch)
        return np.random.default_rng([int(seed), STAGE_IDS[stage], int(epoch), 1000 + self.worker_index])

    def learning_rate(self, lr):
        """``lr`` scaled by ``training.lr_scaling`` (numbers only; schedules are left alone)."""
        if self.lr_scaling == "linear" and isinstance(lr, (int, float)) and not isinstance(lr, bool):
            return float(lr) * self.num_replicas
        return lr

    # -- engine hooks (single device: nothing to do) ------------------------------------------------
    def trainer(self, trainer):
        """``trainer`` ready for :func:`hpdesc.training.loop.fit_stage` under this cluster."""
        return trainer

    def stats_forward(self, model):
        """``x -> model(x, training=True)`` with this worker's ``x`` as its part of one global batch.

        Batch-norm recalibration through it gives every worker the same statistics, those of all
        workers' batches together. None with one worker, where a plain call does that.
        """
        return None

    def for_inference(self, model):
        """``model`` with its predict step detached from the strategy (per-worker inference, no collectives)."""
        return model

    def alone(self):
        """Work this process does by itself (the chief's benchmark): no distribution, no collectives."""
        return contextlib.nullcontext()

    def is_peer_failure(self, exc: Exception) -> bool:
        """True when ``exc`` is a collective that failed because another worker died or stalled."""
        return self.num_workers >= 2 and type(exc).__name__ in PEER_ERRORS

    # -- failures ----------------------------------------------------------------------------------
    def peer_error(self, exc: Exception) -> Exception:
        """A collective that failed because a worker died or stalled -> a TrainingError that says so; else ``exc``."""
        if not self.is_peer_failure(exc):
            return exc
        self.peer_failed = True
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        return TrainingError(
            f"worker {self.worker_index}: another worker of this {self.num_workers}-worker run stopped "
            f"responding or failed ({type(exc).__name__}: {first})",
            hint="restart every worker with the same command and --resume RUN_DIR; training continues from the "
                 "last epoch checkpoint")

    @contextlib.contextmanager
    def errors(self):
        """Turn a collective that failed because a peer died into a clear TrainingError."""
        try:
            yield
        except Exception as exc:
            err = self.peer_error(exc)
            if err is exc:
                raise
            raise err from exc

    # -- the run directory -------------------------------------------------------------------------
    def worker_run(self, chief_run):
        """The chief's run directory, or for another worker a private scratch copy of its resume state.

        The copy holds what a resume needs (state, histories, models, ``*_last.npz`` checkpoints),
        so every worker restarts from the same epoch; it is deleted when the process exits.
        """
        from hpdesc.training.run import RunDir

        chief_run = RunDir(chief_run) if chief_run is not None else None
        if self.is_chief:
            return chief_run
        scratch = Path(tempfile.mkdtemp(prefix=f"hpdesc-worker{self.worker_index}-")) / "run"
        scratch.mkdir()
        self._scratch.append(scratch.parent)
        atexit.register(shutil.rmtree, scratch.parent, True)
        if chief_run is not None and chief_run.path.is_dir():
            src = chief_run.path
            for name in ("state.json", "config.toml", "denoiser.keras", "descriptor.keras",
                         "history_denoiser.csv", "history_descriptor.csv"):
                if (src / name).is_file():
                    shutil.copy2(src / name, scratch / name)
            for ckpt in src.glob("checkpoints/*_last.npz"):
                (scratch / "checkpoints").mkdir(exist_ok=True)
                shutil.copy2(ckpt, scratch / "checkpoints" / ckpt.name)
        return RunDir(scratch)

    def remove_scratch(self) -> None:
        """Delete the scratch copies now (a process leaving through ``os._exit`` skips atexit)."""
        for d in self._scratch:
            shutil.rmtree(d, ignore_errors=True)

    def describe(self) -> str:
        if not self.distributed:
            return "one device"
        return (f"{self.mode} ({self.backend}): {self.num_replicas} replicas, {self.num_workers} worker(s), "
                f"this is worker {self.worker_index}{' (chief)' if self.is_chief else ''}")


__all__ = ["Cluster", "MODES", "LR_SCALINGS", "PEER_ERRORS", "check_config"]
