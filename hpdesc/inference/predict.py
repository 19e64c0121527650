"""A model as a numpy -> numpy batch function: a jitted JAX call, Keras' ``predict_on_batch``, or numpy.

On the JAX backend (one process, no ``keras.distribution`` in force) a model runs as one jitted
``stateless_call``, which avoids Keras' per-call host syncs (docs/performance.md);
``HPDESC_FAST_PATH=off`` switches this off, together with training's fast path
(:mod:`hpdesc.training.fast`, which reads the same switch from here).
"""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

FAST_PATH_ENV = "HPDESC_FAST_PATH"


def fast_path_off() -> bool:
    """True when ``HPDESC_FAST_PATH`` switches the JAX fast paths off (``off``, ``0``, ``false``, ``no``)."""
    return os.environ.get(FAST_PATH_ENV, "auto").strip().lower() in ("off", "0", "false", "no")


def _single_device_jax() -> bool:
    """JAX backend, fast path on, one process and no distribution (inference must not join a collective)."""
    import keras

    if fast_path_off() or keras.backend.backend() != "jax":
        return False
    if keras.distribution.distribution() is not None:
        return False
    import jax

    # several processes (a multi-worker run's chief benchmarking alone): Keras' own predict
    return jax.process_count() == 1


def predict_fn(model) -> Callable | None:
    """A jitted ``x -> model(x, training=False)`` on JAX (one compile per input shape), else None.

    The variables are passed in on every call (not captured), so a model trained further after
    this function was made is used with its current weights.
    """
    if not _single_device_jax():
        return None
    import jax

    @jax.jit
    def infer(trainable, non_trainable, x):
        out, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        return out

    def run(x):
        return infer([v.value for v in model.trainable_variables],
                     [v.value for v in model.non_trainable_variables], x)

    return run


def batch_fn(model, pad_to: int | None = 256) -> Callable[[np.ndarray], np.ndarray]:
    """A numpy -> numpy function for ``model`` (its numpy ``compute`` for sift-like models).

    Short batches are zero-padded to ``pad_to`` rows so the compiled predict function sees one
    shape (no retracing for the last batch of every sequence). On JAX (one device) the model runs
    as one jitted ``stateless_call`` (:func:`predict_fn`); elsewhere through ``predict_on_batch``
    (on TensorFlow as fast as a ``tf.function`` call, docs/performance.md).
    """
    from keras import ops

    from hpdesc.models import numpy_compute

    compute = numpy_compute(model)
    if compute is not None:
        return lambda x: np.asarray(compute(x), dtype=np.float32)
    predict = predict_fn(model) or model.predict_on_batch

    def run(x):
        n = len(x)
        if pad_to and n < pad_to:
            x = np.concatenate([x, np.zeros((pad_to - n,) + x.shape[1:], x.dtype)])
        out = predict(x)
        return np.asarray(ops.convert_to_numpy(out), dtype=np.float32)[:n]

    return run


__all__ = ["FAST_PATH_ENV", "batch_fn", "fast_path_off", "predict_fn"]
