"""Optimizer factories: thin, explicit wrappers around ``keras.optimizers``.

Each takes the contract's ``learning_rate`` and the optimizer's own keyword parameters with
Keras' names; an unknown parameter raises ``TypeError``, a bad value
:class:`~hpdesc.errors.ParameterError` (a ``ValueError``).
"""

from __future__ import annotations

import keras

from hpdesc.errors import ParameterError
from hpdesc.params import check_bool, check_float


def _common(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm):
    kwargs = {"learning_rate": check_float("learning_rate", learning_rate, minimum=0.0)}
    if kwargs["learning_rate"] <= 0.0:
        raise ParameterError(f"parameter 'learning_rate' must be > 0, got {learning_rate!r}")
    for name, value in (("weight_decay", weight_decay), ("clipnorm", clipnorm),
                        ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
        if value is not None:
            kwargs[name] = check_float(name, value, minimum=0.0)
    if clipnorm is not None and global_clipnorm is not None:
        raise ParameterError("parameters 'clipnorm' and 'global_clipnorm' cannot both be set")
    return kwargs


def sgd(learning_rate: float = 0.1, momentum: float = 0.9, nesterov: bool = False,
        weight_decay: float | None = None, clipnorm: float | None = None,
        clipvalue: float | None = None, global_clipnorm: float | None = None):
    """Stochastic gradient descent with momentum (HardNet trains with SGD, lr 0.1 (decayed), momentum 0.9)."""
    kwargs = _common(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
    momentum = check_float("momentum", momentum, minimum=0.0, maximum=1.0, include_max=False)
    if check_bool("nesterov", nesterov) and momentum == 0.0:  # Nesterov's look-ahead is a momentum step
        raise ParameterError("parameter 'nesterov' only applies with momentum > 0 (this call has momentum=0): "
                             "remove nesterov, or give it with a momentum")
    return keras.optimizers.SGD(momentum=momentum, nesterov=nesterov, **kwargs)


def adam(learning_rate: float = 1e-3, beta_1: float = 0.9, beta_2: float = 0.999,
         epsilon: float = 1e-7, amsgrad: bool = False, weight_decay: float | None = None,
         clipnorm: float | None = None, clipvalue: float | None = None,
         global_clipnorm: float | None = None):
    """Adam (Kingma & Ba 2015)."""
    kwargs = _common(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
    return keras.optimizers.Adam(
        beta_1=check_float("beta_1", beta_1, minimum=0.0, maximum=1.0, include_max=False),
        beta_2=check_float("beta_2", beta_2, minimum=0.0, maximum=1.0, include_max=False),
        epsilon=check_float("epsilon", epsilon, minimum=0.0),
        amsgrad=check_bool("amsgrad", amsgrad), **kwargs,
    )


def rmsprop(learning_rate: float = 1e-3, rho: float = 0.9, momentum: float = 0.0,
            epsilon: float = 1e-7, centered: bool = False, weight_decay: float | None = None,
            clipnorm: float | None = None, clipvalue: float | None = None,
            global_clipnorm: float | None = None):
    """RMSprop (Hinton's lecture 6e)."""
    kwargs = _common(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
    return keras.optimizers.RMSprop(
        rho=check_float("rho", rho, minimum=0.0, maximum=1.0, include_max=False),
        momentum=check_float("momentum", momentum, minimum=0.0, maximum=1.0, include_max=False),
        epsilon=check_float("epsilon", epsilon, minimum=0.0),
        centered=check_bool("centered", centered), **kwargs,
    )


def adadelta(learning_rate: float = 1.0, rho: float = 0.95, epsilon: float = 1e-7,
             weight_decay: float | None = None, clipnorm: float | None = None,
             clipvalue: float | None = None, global_clipnorm: float | None = None):
    """Adadelta (Zeiler 2012); learning rate 1.0 as in the paper."""
    kwargs = _common(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm)
    return keras.optimizers.Adadelta(
        rho=check_float("rho", rho, minimum=0.0, maximum=1.0, include_max=False),
        epsilon=check_float("epsilon", epsilon, minimum=0.0), **kwargs,
    )
