"""Shared building blocks: activations, initialisers, custom layers' config round trip."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from hpdesc.models.layers import (
    L2Normalize,
    PatchStandardize,
    activation_layer,
    conv_block,
    initializer,
)


def test_activation_layer():
    assert isinstance(activation_layer("relu", 0.2), keras.layers.ReLU)
    leaky = activation_layer("leaky_relu", 0.1)
    x = np.array([[-1.0, 2.0]], np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(leaky(x)), [[-0.1, 2.0]], rtol=1e-6)
    with pytest.raises(ValueError, match="relu, leaky_relu"):
        activation_layer("gelu", 0.2)


@pytest.mark.parametrize("name,cls", [
    ("he_normal", keras.initializers.HeNormal),
    ("glorot_normal", keras.initializers.GlorotNormal),
    ("xavier", keras.initializers.GlorotNormal),
    ("orthogonal", keras.initializers.Orthogonal),
])
def test_initializer(name, cls):
    assert isinstance(initializer(name), cls)


def test_initializer_unknown():
    with pytest.raises(ValueError, match="he_normal"):
        initializer("zeros")


def test_conv_block_names():
    inputs = keras.Input((8, 8, 1))
    out = conv_block(inputs, 4, bn=True, activation="leaky_relu", name="blk")
    model = keras.Model(inputs, out)
    assert [l.name for l in model.layers[1:]] == ["blk", "blk_bn", "blk_act"]
    assert not model.get_layer("blk").use_bias


@pytest.mark.parametrize("layer", [L2Normalize(epsilon=1e-9, name="n"),
                                   PatchStandardize(scale=False, epsilon=1e-5, name="s")])
def test_custom_layer_config_round_trip(layer):
    config = keras.saving.serialize_keras_object(layer)
    assert config["registered_name"].startswith("hpdesc>")
    clone = keras.saving.deserialize_keras_object(config)
    assert clone.get_config() == layer.get_config()


def test_patch_standardize_and_l2():
    x = np.random.default_rng(0).random((3, 4, 4, 1), dtype=np.float32)
    y = keras.ops.convert_to_numpy(PatchStandardize()(x)).reshape(3, -1)
    np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=1), 1.0, atol=1e-4)
    flat = keras.ops.convert_to_numpy(L2Normalize()(x.reshape(3, -1)))
    np.testing.assert_allclose(np.linalg.norm(flat, axis=1), 1.0, atol=1e-6)
    constant = keras.ops.convert_to_numpy(PatchStandardize()(np.ones((1, 4, 4, 1), np.float32)))
    assert np.all(constant == 0)
