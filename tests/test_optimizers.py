"""Optimizer factories: defaults, parameter checking, a real update step."""

from __future__ import annotations

import importlib.metadata

import keras
import numpy as np
import pytest

from hpdesc import optimizers


def test_all_registered_build_with_contract_call():
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group="hpdesc.optimizers")}
    assert {"sgd", "adam", "rmsprop", "adadelta"} <= set(eps)
    for ep in eps.values():
        opt = ep.load()(learning_rate=0.01)
        assert isinstance(opt, keras.optimizers.Optimizer)
        assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(0.01)


def test_defaults():
    sgd = optimizers.sgd()
    assert isinstance(sgd, keras.optimizers.SGD)
    assert float(sgd.learning_rate) == pytest.approx(0.1)
    assert sgd.momentum == pytest.approx(0.9) and not sgd.nesterov
    assert isinstance(optimizers.adam(), keras.optimizers.Adam)
    assert float(optimizers.adam().learning_rate) == pytest.approx(1e-3)
    assert isinstance(optimizers.rmsprop(), keras.optimizers.RMSprop)
    ada = optimizers.adadelta()
    assert isinstance(ada, keras.optimizers.Adadelta)
    assert float(ada.learning_rate) == pytest.approx(1.0)


def test_passes_parameters():
    opt = optimizers.adam(learning_rate=0.5, beta_1=0.8, epsilon=1e-3, weight_decay=1e-4,
                          clipnorm=1.0)
    assert opt.beta_1 == pytest.approx(0.8) and opt.epsilon == pytest.approx(1e-3)
    assert opt.weight_decay == pytest.approx(1e-4) and opt.clipnorm == pytest.approx(1.0)
    assert optimizers.sgd(nesterov=True, momentum=0.5).nesterov


@pytest.mark.parametrize("factory", [optimizers.sgd, optimizers.adam, optimizers.rmsprop,
                                     optimizers.adadelta])
def test_unknown_parameter_is_type_error(factory):
    with pytest.raises(TypeError):
        factory(learning_rate=0.1, no_such_parameter=1)


@pytest.mark.parametrize("factory,params,name", [
    (optimizers.sgd, {"learning_rate": 0.0}, "learning_rate"),
    (optimizers.sgd, {"momentum": 1.5}, "momentum"),
    (optimizers.adam, {"beta_1": "x"}, "beta_1"),
    (optimizers.rmsprop, {"centered": 1}, "centered"),
    (optimizers.adadelta, {"clipnorm": -1.0}, "clipnorm"),
])
def test_bad_values(factory, params, name):
    with pytest.raises(ValueError, match=name):
        factory(**params)


def test_sgd_step():
    var = keras.Variable(np.array([1.0, -2.0], np.float32))
    opt = optimizers.sgd(learning_rate=0.5, momentum=0.0)
    opt.apply_gradients([(keras.ops.convert_to_tensor(np.array([1.0, 1.0], np.float32)), var)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(var), [0.5, -2.5])


def test_nesterov_without_momentum_is_refused():
    """Nesterov momentum with momentum=0 would silently be plain SGD: refused, naming the parameter."""
    from hpdesc import registry
    from hpdesc.errors import UsageError

    with pytest.raises(UsageError, match="'nesterov' only applies with momentum > 0"):
        registry.build("optimizer", "sgd", learning_rate=0.1, momentum=0.0, nesterov=True)
    opt = registry.build("optimizer", "sgd", learning_rate=0.1, momentum=0.5, nesterov=True)
    assert opt.nesterov and opt.momentum == 0.5
