"""Data-parallel training on JAX: ``keras.distribution.DataParallel`` (and ``jax.distributed``) behind :class:`Cluster`.

``mirrored`` lays the model's variables out over ``keras.distribution.list_devices()`` of this
process; ``multi-worker`` first calls ``keras.distribution.initialize()`` (``jax.distributed``)
from ``KERAS_DISTRIBUTION_JOB_ADDRESSES``, ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and
``KERAS_DISTRIBUTION_PROCESS_ID``. Training steps need no wrapper here: the JAX fast path
(:mod:`hpdesc.training.fast`) lays each per-process batch out over the mesh with
:func:`global_batch`. Only public Keras and JAX API is used.

Named ``jax`` like the engine: inside this package ``import jax`` still means the JAX library
(absolute imports); other modules import this one as ``distribute.jax``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from dataclasses import dataclass

from hpdesc.training.distribute.base import Cluster

# what a JAX collective or the jax.distributed service says when a peer process died (XLA status text)
PEER_MESSAGES = ("Gloo", "Connection reset by peer", "Connection closed by peer", "heartbeat",
                 "coordination service", "UNAVAILABLE:", "DEADLINE_EXCEEDED:")


@dataclass
class JaxCluster(Cluster):
    """A :class:`Cluster` whose ``strategy`` is the ``keras.distribution.DataParallel`` in force."""

    backend: str = "jax"
    leave_on_peer_failure: bool = False  # set by make_cluster for a real multi-process run

    def peer_error(self, exc: Exception) -> Exception:
        """As :meth:`Cluster.peer_error`; in a real multi-process run a peer failure ends this process
        at once (see :func:`_leave_now`)."""
        err = super().peer_error(exc)
        if err is not exc and self.leave_on_peer_failure:
            _leave_now(self, err)
        return err

    def stats_forward(self, model):
        """The model called on the global batch laid out over the mesh (every worker's rows)."""
        if self.strategy is None or self.num_workers == 1:
            return None

        def forward(x):
            try:
                model(global_batch(self.strategy, x), training=True)
            except Exception as exc:
                raise self.peer_error(exc) from exc
        return forward

    @contextlib.contextmanager
    def alone(self):
        """No distribution while this process works by itself (the chief's benchmark).

        With several processes, models built or loaded under ``DataParallel`` live on the global
        mesh, and running them would wait for the other processes forever.
        """
        if self.num_workers == 1 or self.strategy is None:
            yield
            return
        import keras

        keras.distribution.set_distribution(None)
        try:
            yield
        finally:
            keras.distribution.set_distribution(self.strategy)

    def is_peer_failure(self, exc: Exception) -> bool:
        return super().is_peer_failure(exc) or (
            self.num_workers >= 2 and any(m in str(exc) for m in PEER_MESSAGES))


# -- the distribution in force, and batches laid out over it (also used by the fast path) ------------
def current_distribution():
    """The ``keras.distribution`` in force, or None (keras>=3.3 always has the distribution API)."""
    import keras

    return keras.distribution.distribution()


def is_data_parallel(dist) -> bool:
    """True for a ``keras.distribution.DataParallel``."""
    import keras

    return isinstance(dist, keras.distribution.DataParallel)


def data_parallel():
    """The ``keras.distribution.DataParallel`` in force, or None (no distribution, or another kind)."""
    dist = current_distribution()
    return dist if dist is not None and is_data_parallel(dist) else None


def global_batch(dist, x):
    """This process's rows ``x`` as its part of one global batch, split along the batch axis over ``dist``'s mesh."""
    import jax
    import numpy as np

    x = np.asarray(x)
    layout = dist.get_data_layout(x.shape).backend_layout
    return jax.make_array_from_process_local_data(layout, x)


def replicated(dist):
    """The sharding of a value held whole by every device of ``dist``'s mesh (the step's loss)."""
    from jax.sharding import NamedSharding, PartitionSpec

    return NamedSharding(dist.device_mesh.backend_mesh, PartitionSpec())


# -- setup ------------------------------------------------------------------------------------------
def make_cluster(mode: str, training=None) -> JaxCluster:
    """``DataParallel`` over every device (of every process for ``multi-worker``), set as the distribution."""
    import keras

    if mode == "multi-worker" and int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")) > 1:
        keras.distribution.initialize()  # jax.distributed.initialize from KERAS_DISTRIBUTION_* variables
    import jax

    devices = keras.distribution.list_devices()
    dist = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(dist)
    workers, index = jax.process_count(), jax.process_index()
    cluster = JaxCluster(mode, "jax", workers, index, len(devices), max(1, len(devices) // workers), dist)
    if workers > 1:
        cluster.leave_on_peer_failure = True
        # registered after JAX's own exit hooks (the backend exists now), so it runs before them
        atexit.register(_leave_after_peer_failure, cluster)
    return cluster


def _leave_now(cluster: Cluster, err) -> None:
    """Print ``err`` as the CLI would (``error:`` and ``hint:`` lines) and end the process with status 1.

    Once a peer has died, JAX's coordination agent aborts this process from a background thread
    (SIGABRT and a C++ stack dump) as soon as it polls the dead peer's error; unwinding to the
    CLI and the exit hooks can lose that race. The process cannot go on in either case (every
    collective needs the dead peer), so it reports and leaves before the agent does.
    """
    print(f"error: {err.message}", file=sys.stderr)
    if err.hint:
        print(f"  hint: {err.hint}", file=sys.stderr)
    cluster.remove_scratch()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def _leave_after_peer_failure(cluster: Cluster) -> None:
    """At exit, after a peer died: end the process now, with status 1 and the error already printed.

    A normal exit would enter jax.distributed's shutdown barrier, which waits for the dead process
    until the heartbeat timeout and then aborts the interpreter with a C++ stack dump (status 134).
    """
    if not cluster.peer_failed:
        return
    cluster.remove_scratch()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


__all__ = ["JaxCluster", "current_distribution", "data_parallel", "global_batch", "is_data_parallel", "make_cluster", "replicated"]
