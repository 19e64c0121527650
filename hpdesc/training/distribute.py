"""Data-parallel training on an existing engine: tf.distribute (TensorFlow) or keras.distribution (JAX).

``training.distribute``:

* ``"none"``: one device, the default.
* ``"mirrored"``: every local device of this process (GPUs, else every logical CPU device):
  TensorFlow's ``MirroredStrategy``, or ``keras.distribution.DataParallel`` on JAX.
* ``"multi-worker"``: several processes, on one or many machines. TensorFlow:
  ``MultiWorkerMirroredStrategy`` configured the standard way by ``TF_CONFIG``; JAX:
  ``keras.distribution.initialize()`` (``jax.distributed``) from ``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
  ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID``, then ``DataParallel``.

The configured batch sizes are *global* (summed over all replicas): a run gives the same loss curve
on one device and on several. Each worker reads only its shard of the training sequences
(``sorted(sequences)[k::n]``) and draws ``global batch * its replicas / all replicas`` samples per
step; within a process the batch is split evenly over the local replicas. ``training.lr_scaling =
"linear"`` multiplies the learning rates by the number of replicas (Goyal et al. 2017), for when the
batch sizes were raised by the same factor. Only the chief (TF_CONFIG task ``chief``, else
``worker`` 0; JAX process 0) writes the run directory; the other workers write their checkpoints to a
private scratch copy of it. See docs/scaling.md.

TensorFlow- and JAX-specific code lives here and nowhere else in the training package.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hpdesc.errors import ConfigError, TrainingError, UsageError

MODES = ("none", "mirrored", "multi-worker")
LR_SCALINGS = ("none", "linear")


@dataclass
class Cluster:
    """Who this process is in a data-parallel run, and the engine object that runs it."""

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

    def rng(self, seed: int, stage: str, epoch: int) -> np.random.Generator:
        """The sampling Generator of ``(seed, stage, epoch)``; a worker-specific stream when n > 1."""
        from hpdesc.data.batches import STAGE_IDS, rng_for

        if self.num_workers == 1:
            return rng_for(seed, stage, epoch)
        return np.random.default_rng([int(seed), STAGE_IDS[stage], int(epoch), 1000 + self.worker_index])

    def learning_rate(self, lr):
        """``lr`` scaled by ``training.lr_scaling`` (numbers only; schedules are left alone)."""
        if self.lr_scaling == "linear" and isinstance(lr, (int, float)) and not isinstance(lr, bool):
            return float(lr) * self.num_replicas
        return lr

    # -- trainers -------------------------------------------------------------------------------
    def trainer(self, trainer):
        """``trainer`` ready for :func:`hpdesc.training.loop.fit_stage` under this cluster."""
        if self.strategy is None or self.backend != "tensorflow":
            return trainer  # JAX: the fast path (or Keras) lays the per-process batch out over the mesh
        return _TFReplicaTrainer(trainer, self)

    def stats_forward(self, model):
        """``x -> model(x, training=True)`` with this worker's ``x`` as its part of one global batch.

        Batch-norm recalibration through it gives every worker the same statistics, those of all
        workers' batches together (synchronized BN on TensorFlow, a batch laid out over the mesh on
        JAX). None with one worker, where a plain call does that.
        """
        if self.strategy is None or self.num_workers == 1:
            return None
        if self.backend == "tensorflow":
            bn = _bn_layers(model)

            def forward(x):
                for la in bn:
                    la.synchronized = True
                try:
                    self.strategy.run(lambda v: model(v, training=True), args=(_tf_split(self, x),))
                except Exception as exc:
                    raise _peer_error(exc, self) from exc
                finally:
                    for la in bn:
                        la.synchronized = False
            return forward
        import jax

        def forward(x):
            x = np.asarray(x)
            layout = self.strategy.get_data_layout(x.shape).backend_layout
            try:
                model(jax.make_array_from_process_local_data(layout, x), training=True)
            except Exception as exc:
                raise _peer_error(exc, self) from exc
        return forward

    def for_inference(self, model):
        """``model`` with its predict step detached from the strategy (per-worker inference, no collectives).

        The variables stay mirrored; only the model's own ``predict_on_batch`` runs on this worker
        alone. (Not a clone: cloning would draw initial values and shift the random stream.)
        """
        if self.strategy is None or self.backend != "tensorflow" or model is None:
            return model
        if hasattr(model, "_distribute_strategy"):
            model._distribute_strategy = None  # Keras' TF trainer falls back to the default strategy
            model.predict_function = None
        return model

    @contextlib.contextmanager
    def alone(self):
        """Work this process does by itself (the chief's benchmark): no distribution, no collectives.

        On JAX with several processes, models built or loaded under ``DataParallel`` live on the
        global mesh, and running them would wait for the other processes forever.
        """
        if self.backend != "jax" or self.num_workers == 1 or self.strategy is None:
            yield
            return
        import keras

        keras.distribution.set_distribution(None)
        try:
            yield
        finally:
            keras.distribution.set_distribution(self.strategy)

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

    @contextlib.contextmanager
    def errors(self):
        """Turn a collective that failed because a peer died into a clear TrainingError."""
        try:
            yield
        except Exception as exc:
            err = _peer_error(exc, self)
            if err is exc:
                raise
            raise err from exc

    def describe(self) -> str:
        if not self.distributed:
            return "one device"
        return (f"{self.mode} ({self.backend}): {self.num_replicas} replicas, {self.num_workers} worker(s), "
                f"this is worker {self.worker_index}{' (chief)' if self.is_chief else ''}")


class _TFReplicaTrainer:
    """A trainer whose ``train_on_batch`` splits this worker's batch over its local replicas."""

    def __init__(self, trainer, cluster: Cluster):
        self._trainer = trainer
        self._cluster = cluster
        _patch_for_replicas(trainer, cluster)
        opt = getattr(trainer, "optimizer", None)
        if opt is not None and not opt.built:  # its slots must be mirrored too (a resume restores them)
            with cluster.scope():
                opt.build(trainer.trainable_variables)
        # batch statistics over the global batch, as on one device (Keras' synchronized BN, TF
        # only); switched on only while a training step is traced so saved models stay portable
        self._bn = _bn_layers(trainer)

    def __getattr__(self, name):
        return getattr(self._trainer, name)

    def train_on_batch(self, x, y=None, **kw):
        for la in self._bn:
            la.synchronized = True
        try:
            return self._trainer.train_on_batch(_tf_split(self._cluster, x), _tf_split(self._cluster, y), **kw)
        except Exception as exc:
            raise _peer_error(exc, self._cluster) from exc
        finally:
            for la in self._bn:
                la.synchronized = False

    def test_on_batch(self, x, y=None, **kw):
        try:
            return self._trainer.test_on_batch(x, y, **kw)
        except Exception as exc:
            raise _peer_error(exc, self._cluster) from exc


def _bn_layers(model) -> list:
    import keras

    return [la for la in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(la, keras.layers.BatchNormalization)]


def _tf_split(cluster: Cluster, value):
    """This worker's batch (or tuple of batches) split over its local replicas, as a distributed value."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return tuple(_tf_split(cluster, v) for v in value)
    import tensorflow as tf

    n = cluster.local_replicas
    parts = np.array_split(np.asarray(value), n)
    return cluster.strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(parts[ctx.replica_id_in_sync_group % n]))


def _patch_for_replicas(trainer, cluster: Cluster) -> None:
    """Two gaps between Keras 3 and tf.distribute when ``compute_loss`` is overridden.

    Keras' own ``compute_loss`` divides the loss by the number of replicas (gradients are summed
    over replicas); the hpdesc wrappers override it, so the division is done here. And Keras
    reduces the step's scalar logs with ``axis=0`` across workers, which needs a rank-1 value.
    """
    from keras import ops

    if getattr(trainer, "_hpdesc_replicas", False):
        return
    n = cluster.num_replicas
    loss_fn, metrics_fn = trainer.compute_loss, trainer.compute_metrics

    def compute_loss(*args, **kw):
        loss = loss_fn(*args, **kw)
        return ops.multiply(loss, ops.cast(1.0 / n, loss.dtype)) if n > 1 else loss

    trainer.compute_loss = compute_loss
    if cluster.num_workers > 1:
        trainer.compute_metrics = lambda *a, **k: {name: ops.reshape(v, (1,))
                                                   for name, v in metrics_fn(*a, **k).items()}
    trainer._hpdesc_replicas = True


_PEER_ERRORS = ("UnavailableError", "DeadlineExceededError", "AbortedError", "CancelledError", "InternalError")
# what a JAX collective or the jax.distributed service says when a peer process died (XLA status text)
_JAX_PEER_MESSAGES = ("Gloo", "Connection reset by peer", "Connection closed by peer", "heartbeat",
                      "coordination service", "UNAVAILABLE:", "DEADLINE_EXCEEDED:")


def _is_peer_failure(exc: Exception, cluster: Cluster) -> bool:
    if cluster.num_workers < 2:
        return False
    if type(exc).__name__ in _PEER_ERRORS:
        return True
    return cluster.backend == "jax" and any(m in str(exc) for m in _JAX_PEER_MESSAGES)


def _peer_error(exc: Exception, cluster: Cluster) -> Exception:
    """A collective that failed because a worker died or stalled -> a TrainingError that says so.

    On JAX the process then leaves right after the error is reported (see :func:`_leave_after_peer_failure`).
    """
    if _is_peer_failure(exc, cluster):
        cluster.peer_failed = True
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        return TrainingError(
            f"worker {cluster.worker_index}: another worker of this {cluster.num_workers}-worker run stopped "
            f"responding or failed ({type(exc).__name__}: {first})",
            hint="restart every worker with the same command and --resume RUN_DIR; training continues from the "
                 "last epoch checkpoint")
    return exc


def train_here(cfg, run, run_training, **kw):
    """``run_training`` on this worker: the chief in ``run``, any other in a scratch copy, without the benchmark.

    ``run`` is the chief's run directory (None for a fresh run on a non-chief worker). A peer that
    dies mid-run surfaces as a :class:`TrainingError` on the others instead of a hang.
    """
    cluster = active()
    if not cluster.is_chief:
        cfg.benchmark.enabled = False  # the chief benchmarks; the others only train
    with cluster.errors():
        return run_training(cfg, cluster.worker_run(run), **kw)


# -- setup ------------------------------------------------------------------------------------------
_ACTIVE: Cluster | None = None


def active() -> Cluster:
    """The cluster set up by :func:`setup` (a single device when none was)."""
    return _ACTIVE if _ACTIVE is not None else Cluster()


def check_config(mode: str, lr_scaling: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"training.distribute must be one of {', '.join(MODES)}, got {mode!r}")
    if lr_scaling not in LR_SCALINGS:
        raise ConfigError(f"training.lr_scaling must be one of {', '.join(LR_SCALINGS)}, got {lr_scaling!r}")


def setup(training) -> Cluster:
    """Create the strategy of ``training.distribute`` once per process (before any other TF op)."""
    global _ACTIVE
    mode = getattr(training, "distribute", "none")
    lr_scaling = getattr(training, "lr_scaling", "none")
    check_config(mode, lr_scaling)
    if _ACTIVE is not None:
        if _ACTIVE.mode != mode:
            raise UsageError(f"this process already trains with distribute={_ACTIVE.mode!r}; "
                             f"start a new process for distribute={mode!r}")
        _ACTIVE.lr_scaling = lr_scaling
        return _ACTIVE
    import keras

    backend = keras.backend.backend()
    if mode == "none":
        cluster = Cluster(backend=backend)
    elif backend == "tensorflow":
        cluster = _tf_cluster(mode, float(getattr(training, "collective_timeout", 900.0)))
    elif backend == "jax":
        cluster = _jax_cluster(mode)
    else:
        raise UsageError(f"training.distribute={mode!r} needs the tensorflow or jax backend, not {backend!r}",
                         hint="set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax")
    cluster.lr_scaling = lr_scaling
    _ACTIVE = cluster
    return cluster


def tf_config_identity(env: str | None = None) -> tuple[int, int]:
    """``(worker index, number of workers)`` from ``TF_CONFIG``; the chief is index 0."""
    raw = os.environ.get("TF_CONFIG") if env is None else env
    if not raw:
        return 0, 1
    try:
        conf = json.loads(raw)
        cluster, task = conf.get("cluster", {}), conf.get("task", {})
        kind, index = task.get("type", "worker"), int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError) as exc:
        raise UsageError(f"TF_CONFIG is not valid JSON with 'cluster' and 'task' ({exc})",
                         hint='e.g. {"cluster": {"worker": ["host1:2222", "host2:2222"]}, '
                              '"task": {"type": "worker", "index": 0}}') from None
    chiefs = len(cluster.get("chief", []))
    workers = len(cluster.get("worker", []))
    if kind not in ("chief", "worker"):
        raise UsageError(f"TF_CONFIG task type {kind!r} is not supported; use 'chief' or 'worker'")
    return (index if kind == "chief" else index + chiefs), max(1, chiefs + workers)


def _tf_cluster(mode: str, timeout: float) -> Cluster:
    import tensorflow as tf

    if mode == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        strategy = tf.distribute.MirroredStrategy(devices)
        n = strategy.num_replicas_in_sync
        return Cluster(mode, "tensorflow", 1, 0, n, n, strategy)
    index, workers = tf_config_identity()
    opts = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout if timeout > 0 else None)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=opts)
    except RuntimeError as exc:
        raise UsageError(f"cannot start multi-worker training: {exc}",
                         hint="the strategy must be created before TensorFlow runs anything; use a fresh process") from None
    n = strategy.num_replicas_in_sync
    return Cluster(mode, "tensorflow", workers, index, n, max(1, n // workers), strategy)


def _jax_cluster(mode: str) -> Cluster:
    import keras

    if mode == "multi-worker" and int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")) > 1:
        keras.distribution.initialize()  # jax.distributed.initialize from KERAS_DISTRIBUTION_* variables
    import jax

    devices = keras.distribution.list_devices()
    dist = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(dist)
    workers, index = jax.process_count(), jax.process_index()
    cluster = Cluster(mode, "jax", workers, index, len(devices), max(1, len(devices) // workers), dist)
    if workers > 1:
        # registered after JAX's own exit hooks (the backend exists now), so it runs before them
        atexit.register(_leave_after_peer_failure, cluster)
    return cluster


def _leave_after_peer_failure(cluster: Cluster) -> None:
    """At exit, after a peer died: end the process now, with status 1 and the error already printed.

    A normal exit would enter jax.distributed's shutdown barrier, which waits for the dead process
    until the heartbeat timeout and then aborts the interpreter with a C++ stack dump (status 134).
    """
    if not cluster.peer_failed:
        return
    for d in cluster._scratch:
        shutil.rmtree(d, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def reset_for_tests() -> None:
    """Forget the active cluster (tests only; a strategy cannot really be torn down)."""
    global _ACTIVE
    _ACTIVE = None
    if "keras" in sys.modules:
        try:
            sys.modules["keras"].distribution.set_distribution(None)
        except Exception:  # noqa: BLE001
            pass


__all__ = ["Cluster", "MODES", "LR_SCALINGS", "active", "setup", "check_config", "tf_config_identity"]
