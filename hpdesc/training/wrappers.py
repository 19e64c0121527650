"""Keras training wrappers: a denoiser with its loss, a shared-weight descriptor with a triplet loss.

The wrappers own only the loss wiring; the wrapped models are what gets saved. ``compute_loss``
and ``compute_metrics`` are overridden (Keras 3's documented hooks), so ``train_on_batch`` works on
every backend; :class:`Trainer` also does there what tf.distribute needs of them (``replicas``,
``rank1_metrics``, set by :mod:`hpdesc.training.distribute.tf`).
"""

from __future__ import annotations

import inspect

import keras
from keras import ops


class Trainer(keras.Model):
    """The wrappers' base: ``compute_loss`` is :meth:`loss_value` divided by ``replicas``.

    ``replicas``: the data-parallel replica count under tf.distribute (gradients are summed over
    replicas, so Keras' own ``compute_loss`` divides by it; an override must too); 1 elsewhere.
    ``rank1_metrics``: the step's scalar logs as rank-1 values (Keras reduces them with
    ``axis=0`` across workers). Both set by :meth:`hpdesc.training.distribute.tf.TFCluster.trainer`.
    """

    replicas = 1
    rank1_metrics = False

    def loss_value(self, y, y_pred):
        raise NotImplementedError

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = self.loss_value(y, y_pred)
        return ops.multiply(loss, ops.cast(1.0 / self.replicas, loss.dtype)) if self.replicas > 1 else loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        return {name: ops.reshape(v, (1,)) for name, v in logs.items()} if self.rank1_metrics else logs


class DenoiserTrainer(Trainer):
    """Trains ``net`` (noisy -> denoised) against clean targets with ``loss(clean, denoised)``."""

    def __init__(self, net: keras.Model, loss_fn, **kwargs):
        super().__init__(name="denoiser_trainer", **kwargs)
        self.net = net
        self.loss_fn = loss_fn

    def call(self, x, training=False):
        return self.net(x, training=training)

    def loss_value(self, y, y_pred):
        return ops.cast(self.loss_fn(ops.cast(y, "float32"), ops.cast(y_pred, "float32")), "float32")


def uses_negatives(loss_fn) -> bool:
    """False when the loss's ``negative`` argument is optional (it mines in-batch, like HardNet).

    Such losses are fed anchor/positive pairs only, saving a third of the descriptor compute.
    """
    try:
        params = list(inspect.signature(loss_fn).parameters.values())
    except (TypeError, ValueError):
        return True
    if len(params) >= 3 and params[2].default is None:
        return False
    return True


class TripletTrainer(Trainer):
    """Runs one descriptor on anchor, positive (and negative) batches; loss = the registry loss.

    Inputs: a tuple ``(anchor, positive[, negative])`` of ``(B, 32, 32, 1)``; output:
    the stacked descriptors ``(B, 2 or 3, D)``.
    """

    def __init__(self, net: keras.Model, loss_fn, with_negatives: bool = True, **kwargs):
        super().__init__(name="descriptor_trainer", **kwargs)
        self.net = net
        self.loss_fn = loss_fn
        self.with_negatives = with_negatives

    def call(self, inputs, training=False):
        inputs = list(inputs)
        n = ops.shape(inputs[0])[0]
        # one forward pass over the concatenated batch: BN statistics see all of it
        out = self.net(ops.concatenate(inputs, axis=0), training=training)
        parts = [out[i * n:(i + 1) * n] for i in range(len(inputs))]
        return ops.stack(parts, axis=1)

    def loss_value(self, y, y_pred):
        d = ops.cast(y_pred, "float32")
        if self.with_negatives:
            return ops.cast(self.loss_fn(d[:, 0], d[:, 1], d[:, 2]), "float32")
        return ops.cast(self.loss_fn(d[:, 0], d[:, 1], None), "float32")
