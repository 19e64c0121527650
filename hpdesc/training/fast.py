"""The JAX fast path for training: a jitted, state-donating training step.

Keras' own ``train_on_batch`` reads the loss back to the host after every step and re-gathers the
model's variables around each call; on a GPU those syncs cost 16-60% of HardNet's step time. On the
JAX backend (one device, or ``keras.distribution.DataParallel``) :func:`adapt` therefore wraps a training wrapper
(:mod:`hpdesc.training.wrappers`) in a :class:`JaxTrainer`: model, non-trainable and optimizer
state live on the device as one pytree, one ``jax.jit`` step (``stateless_call`` + the wrapper's
``compute_loss`` + ``optimizer.stateless_apply``) maps it to the next state with its buffers
donated, and the loss comes back as a device scalar that the epoch loop reads every few steps.
Under ``DataParallel`` (``--distribute mirrored|multi-worker``) the state stays replicated over the
mesh and each batch is laid out along its batch axis (this process's rows, as Keras does), so the
same step computes the global-batch loss and XLA inserts the gradient all-reduce.

The Keras variables are written back by :meth:`JaxTrainer.sync` (the epoch loop calls it after the
last step of every epoch, before validation, batch-norm recalibration and the checkpoint); any
attribute read through the adapter syncs first, so ``get_weights`` / ``optimizer.variables`` are
never stale. ``HPDESC_FAST_PATH=off`` turns the adapter off (Keras' ``train_on_batch`` then runs),
and with it the jitted inference of :func:`hpdesc.inference.predict.predict_fn`, which reads the same
switch. See docs/performance.md.

JAX-specific code of the training package lives here and in :mod:`hpdesc.training.distribute.jax`
(the distribution in force, and how a per-process batch is laid out over its mesh).
"""

from __future__ import annotations

from typing import Any, Sequence

from hpdesc.inference.predict import fast_path_off
from hpdesc.training.distribute import jax as djax


def _trainable_jax() -> bool:
    """JAX backend, fast path not switched off, and one device or a data-parallel distribution."""
    import keras

    if fast_path_off() or keras.backend.backend() != "jax":
        return False
    dist = djax.current_distribution()
    return dist is None or djax.is_data_parallel(dist)


def enabled(trainer=None) -> bool:
    """True when :func:`adapt` would use the fast path for ``trainer`` (a compiled Keras model)."""
    if not _trainable_jax():
        return False
    if trainer is None:
        return True
    import keras

    return isinstance(trainer, keras.Model) and getattr(trainer, "optimizer", None) is not None


def adapt(trainer):
    """``trainer`` wrapped in a :class:`JaxTrainer` where the fast path applies, else unchanged."""
    if isinstance(trainer, JaxTrainer) or not enabled(trainer):
        return trainer
    return JaxTrainer(trainer)


class JaxTrainer:
    """``train_on_batch`` as one jitted JAX step over donated device state (see the module doc).

    Same interface as the Keras model it wraps, as far as :func:`hpdesc.training.loop.fit_stage`
    and the checkpoint functions use it: ``train_on_batch(x, y, return_dict=True)`` returns
    ``{"loss": <device scalar>}``; everything else is the wrapped model's, read after a
    :meth:`sync`. ``set_weights`` and assignments to optimizer variables are picked up by the next
    step (the device state is re-read from the Keras variables after every sync).
    """

    def __init__(self, trainer):
        import jax

        self._trainer = trainer
        opt = trainer.optimizer
        if not opt.built:
            opt.build(trainer.trainable_variables)
        self._state = None  # (trainable, non-trainable, optimizer) lists of jax arrays
        self._dirty = False
        self._dist = djax.data_parallel()
        self._step = None if self._dist is not None else jax.jit(self._train_step, donate_argnums=(0,))

    # -- the step --------------------------------------------------------------------------------
    def _train_step(self, state, x, y):
        import jax
        from keras import StatelessScope

        trainer = self._trainer
        opt = trainer.optimizer
        trainable, non_trainable, opt_vars = state

        def loss_fn(tv, ntv):
            y_pred, ntv = trainer.stateless_call(tv, ntv, x, training=True)
            loss = trainer.compute_loss(x, y, y_pred, training=True)
            # loss scaling (a LossScaleOptimizer under mixed_float16); identity otherwise
            with StatelessScope(state_mapping=list(zip(opt.variables, opt_vars))):
                scaled = opt.scale_loss(loss)
            return scaled, (loss, ntv)

        (_, (loss, non_trainable)), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable, non_trainable)
        trainable, opt_vars = opt.stateless_apply(opt_vars, grads, trainable)
        return (trainable, non_trainable, opt_vars), loss

    def _load(self) -> None:
        import jax.numpy as jnp

        tr = self._trainer
        # copies: the step donates its state, and the Keras variables must stay readable
        self._state = tuple([jnp.array(v.value, copy=True) for v in vs]
                            for vs in (tr.trainable_variables, tr.non_trainable_variables, tr.optimizer.variables))
        if self._step is None:  # data-parallel: the state keeps its (replicated) layout step after step
            import jax

            shardings = jax.tree.map(lambda a: a.sharding, self._state)
            loss = djax.replicated(self._dist)
            self._step = jax.jit(self._train_step, donate_argnums=(0,), out_shardings=(shardings, loss))

    def prepare(self, batch):
        """``(x, y)`` moved to the device (the epoch loop calls this in its prefetch thread).

        Data-parallel: each array becomes this process's rows of the global batch, split along the
        batch axis over the mesh (``jax.make_array_from_process_local_data``).
        """
        import jax

        if self._dist is None:
            return jax.device_put(batch)
        return jax.tree.map(lambda x: djax.global_batch(self._dist, x), batch)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        if sample_weight is not None or class_weight is not None:
            raise NotImplementedError("the JAX fast path takes no sample or class weights")
        if self._state is None:
            self._load()
        if isinstance(x, list):
            x = tuple(x)
        if self._dist is not None and not is_device_value(_first_leaf(x)):
            x, y = self.prepare((x, y))
        self._state, loss = self._step(self._state, x, y)
        self._dirty = True
        return {"loss": loss} if return_dict else loss

    # -- Keras state ------------------------------------------------------------------------------
    def sync(self) -> None:
        """Write the device state into the Keras variables (a no-op when nothing changed)."""
        if self._dirty and self._state is not None:
            tr = self._trainer
            for vs, values in zip((tr.trainable_variables, tr.non_trainable_variables, tr.optimizer.variables),
                                  self._state):
                for v, value in zip(vs, values):
                    v.assign(value)
        self._state = None  # re-read at the next step: picks up set_weights, BN recalibration, ...
        self._dirty = False

    @property
    def model(self):
        """The wrapped Keras model (synced)."""
        self.sync()
        return self._trainer

    def get_weights(self):
        self.sync()
        return self._trainer.get_weights()

    def set_weights(self, weights) -> None:
        self.sync()
        self._trainer.set_weights(weights)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        self.sync()
        return getattr(self._trainer, name)


def to_host(values: Sequence[Any]) -> list[float]:
    """Python floats of ``values`` (device scalars or numbers), fetched in one transfer."""
    values = list(values)
    if any(type(v).__module__.startswith(("jax", "jaxlib")) for v in values):
        import jax

        values = jax.device_get(values)
    return [float(v) for v in values]


def _first_leaf(x):
    """The first array of ``x`` (an array or a tuple of arrays)."""
    return x[0] if isinstance(x, tuple) else x


def is_device_value(value) -> bool:
    """True for a JAX array (reading it blocks on the device); numbers and numpy are host values."""
    return type(value).__module__.startswith(("jax", "jaxlib"))


__all__ = ["JaxTrainer", "adapt", "enabled", "is_device_value", "to_host"]
