"""Data-parallel training on TensorFlow: ``MirroredStrategy`` / ``MultiWorkerMirroredStrategy`` behind :class:`Cluster`.

``mirrored`` mirrors over every local GPU (else every logical CPU device); ``multi-worker`` reads
its cluster from ``TF_CONFIG`` the standard way. Keras 3's TF trainer runs a step under the
strategy the model was built in; this module fills three gaps between it and hpdesc's wrappers:
the per-replica split of this worker's batch (:class:`_TFReplicaTrainer`), the loss division by
the replica count that Keras' own ``compute_loss`` does (the wrappers' ``Trainer.compute_loss``
override does it, told the count here), and
synchronized batch norm, switched on only while a step runs so saved models stay portable.

Keras API used beyond the documented one, and why:

* ``model._distribute_strategy = None`` (:meth:`TFCluster.for_inference`): Keras' TF trainer binds
  a model to the strategy in scope when it was built, and its ``distribute_strategy`` property has
  no setter; no public call detaches a model, and per-worker inference must not run the
  strategy's cross-replica gather (a collective every worker would have to join, with dtype limits
  of its own). Cloning the model instead would draw initial values and shift the random stream.
  ``predict_function = None`` (public, Keras' own ``compile`` resets it the same way) then makes
  the next ``predict_on_batch`` build its function for the default strategy.

Batch-norm layers are found through the public ``Model.layers`` (and ``Wrapper.layer``), walked
into nested models, not Keras' private ``_flatten_layers``; on the registered models and the
training wrappers both find the same layers (tested). A BatchNormalization inside a custom layer
that is not a Model is listed by no public Keras API and is not synchronized.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from hpdesc.errors import UsageError
from hpdesc.training.distribute.base import Cluster


@dataclass
class TFCluster(Cluster):
    """A :class:`Cluster` whose ``strategy`` is a ``tf.distribute`` strategy."""

    backend: str = "tensorflow"

    def trainer(self, trainer):
        if self.strategy is None:
            return trainer
        return _TFReplicaTrainer(trainer, self)

    def stats_forward(self, model):
        """Synchronized batch norm inside ``strategy.run``: the statistics of all workers' batches."""
        if self.strategy is None or self.num_workers == 1:
            return None
        from hpdesc.models.walk import batchnorm_layers

        bn = batchnorm_layers(model)

        def forward(x):
            for la in bn:
                la.synchronized = True
            try:
                self.strategy.run(lambda v: model(v, training=True), args=(_split(self, x),))
            except Exception as exc:
                raise self.peer_error(exc) from exc
            finally:
                for la in bn:
                    la.synchronized = False
        return forward

    def for_inference(self, model):
        """``model`` with its predict step detached from the strategy (per-worker inference, no collectives).

        The variables stay mirrored; only the model's own ``predict_on_batch`` runs on this worker
        alone. (Not a clone: cloning would draw initial values and shift the random stream.)
        """
        if self.strategy is None or model is None:
            return model
        if hasattr(model, "_distribute_strategy"):  # no public setter: see the module docstring
            model._distribute_strategy = None  # Keras' TF trainer falls back to the default strategy
            model.predict_function = None
        return model


class _TFReplicaTrainer:
    """A trainer whose ``train_on_batch`` splits this worker's batch over its local replicas."""

    def __init__(self, trainer, cluster: TFCluster):
        self._trainer = trainer
        self._cluster = cluster
        _patch_for_replicas(trainer, cluster)
        opt = getattr(trainer, "optimizer", None)
        if opt is not None and not opt.built:  # its slots must be mirrored too (a resume restores them)
            with cluster.scope():
                opt.build(trainer.trainable_variables)
        # batch statistics over the global batch, as on one device (Keras' synchronized BN, TF
        # only); switched on only while a training step is traced so saved models stay portable
        from hpdesc.models.walk import batchnorm_layers

        self._bn = batchnorm_layers(trainer)

    def __getattr__(self, name):
        return getattr(self._trainer, name)

    def train_on_batch(self, x, y=None, **kw):
        for la in self._bn:
            la.synchronized = True
        try:
            return self._trainer.train_on_batch(_split(self._cluster, x), _split(self._cluster, y), **kw)
        except Exception as exc:
            raise self._cluster.peer_error(exc) from exc
        finally:
            for la in self._bn:
                la.synchronized = False

    def test_on_batch(self, x, y=None, **kw):
        try:
            return self._trainer.test_on_batch(x, y, **kw)
        except Exception as exc:
            raise self._cluster.peer_error(exc) from exc


def _split(cluster: Cluster, value):
    """This worker's batch (or tuple of batches) split over its local replicas, as a distributed value."""
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return tuple(_split(cluster, v) for v in value)
    import numpy as np
    import tensorflow as tf

    n = cluster.local_replicas
    parts = np.array_split(np.asarray(value), n)
    return cluster.strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(parts[ctx.replica_id_in_sync_group % n]))


def _patch_for_replicas(trainer, cluster: Cluster) -> None:
    """Two gaps between Keras 3 and tf.distribute when ``compute_loss`` is overridden, closed by
    :class:`hpdesc.training.wrappers.Trainer`'s own overrides: the loss divided by the replica
    count, and rank-1 step logs across workers."""
    from hpdesc.training.wrappers import Trainer

    if not isinstance(trainer, Trainer):
        raise TypeError(f"data-parallel training needs an hpdesc Trainer, not {type(trainer).__name__}")
    trainer.replicas = cluster.num_replicas
    trainer.rank1_metrics = cluster.num_workers > 1


# -- setup ------------------------------------------------------------------------------------------
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


def make_cluster(mode: str, training) -> TFCluster:
    """The strategy of ``mode`` ("mirrored" or "multi-worker"); must run before any other TF op."""
    import tensorflow as tf

    if mode == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        strategy = tf.distribute.MirroredStrategy(devices)
        n = strategy.num_replicas_in_sync
        return TFCluster(mode, "tensorflow", 1, 0, n, n, strategy)
    timeout = float(getattr(training, "collective_timeout", 900.0))
    index, workers = tf_config_identity()
    opts = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout if timeout > 0 else None)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=opts)
    except RuntimeError as exc:
        raise UsageError(f"cannot start multi-worker training: {exc}",
                         hint="the strategy must be created before TensorFlow runs anything; use a fresh process") from None
    n = strategy.num_replicas_in_sync
    return TFCluster(mode, "tensorflow", workers, index, n, max(1, n // workers), strategy)


__all__ = ["TFCluster", "make_cluster", "tf_config_identity"]
