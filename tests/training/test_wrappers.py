"""The training wrappers' documented Keras overrides: the loss per replica, rank-1 logs across workers."""

from __future__ import annotations

import numpy as np
import pytest


def test_replicas_divide_the_loss_and_rank1_logs():
    import keras

    from hpdesc.training.wrappers import DenoiserTrainer, Trainer

    net = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(1, 3, padding="same")])
    t = DenoiserTrainer(net, lambda y, p: keras.ops.mean((y - p) ** 2))
    t.compile(optimizer="sgd")
    x = np.random.default_rng(0).random((2, 4, 4, 1)).astype("float32")
    pred = t(x)
    one = float(t.compute_loss(x, x * 0, pred))
    t.replicas = 4  # what the TF cluster sets: an attribute, the method is the class's own
    assert float(t.compute_loss(x, x * 0, pred)) == pytest.approx(one / 4)
    assert type(t).compute_loss is Trainer.compute_loss and "compute_loss" not in vars(t)
    t.rank1_metrics = True
    logs = t.compute_metrics(x, x * 0, pred)
    assert logs and all(tuple(v.shape) == (1,) for v in logs.values())
