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

Modules: :mod:`~hpdesc.training.distribute.base` (the :class:`Cluster` interface, the shared
logic, :func:`check_config`), :mod:`~hpdesc.training.distribute.tf` and
:mod:`~hpdesc.training.distribute.jax` (one engine each). This one creates the process's cluster
(:func:`setup`) and hands it out (:func:`active`). Outside this package, engine-specific training
code lives only in the JAX fast path, :mod:`hpdesc.training.fast`. Importing the package imports
no engine (it is imported for :func:`setup`; the valid modes belong to :mod:`hpdesc.config`).
"""

from __future__ import annotations

import importlib

from hpdesc.errors import UsageError
from hpdesc.training.distribute.base import LR_SCALINGS, MODES, Cluster, check_config
from hpdesc.training.distribute.tf import tf_config_identity

# Keras backend -> the module of this package that distributes on it
BACKENDS = {"tensorflow": "tf", "jax": "jax"}

_ACTIVE: Cluster | None = None


def active() -> Cluster:
    """The cluster set up by :func:`setup` (a single device when none was)."""
    return _ACTIVE if _ACTIVE is not None else Cluster()


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
    elif backend in BACKENDS:
        cluster = importlib.import_module(f"{__name__}.{BACKENDS[backend]}").make_cluster(mode, training)
    else:
        raise UsageError(f"training.distribute={mode!r} needs the tensorflow or jax backend, not {backend!r}",
                         hint="set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax")
    cluster.lr_scaling = lr_scaling
    _ACTIVE = cluster
    return cluster


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


__all__ = ["Cluster", "MODES", "LR_SCALINGS", "active", "setup", "check_config", "tf_config_identity", "train_here"]
