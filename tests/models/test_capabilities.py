"""What a model can do is declared by the model, not decided from a list of names."""

from __future__ import annotations

import numpy as np
import pytest

from hpdesc import registry


@pytest.mark.parametrize("name, expected", [("dncnn", True), ("unet", True), ("unet16", True),
                                            ("autoencoder", True), ("nlmeans", False), ("identity", False)])
def test_denoisers_declare_whether_they_run_on_whole_images(name, expected):
    from hpdesc.inference.wholeimage import fully_convolutional_names, is_fully_convolutional

    assert is_fully_convolutional(name) is expected
    assert (name in fully_convolutional_names()) is expected


def test_a_declared_u_net_denoises_a_whole_image():
    from hpdesc.inference.wholeimage import ImageDenoiser

    model = registry.build("denoiser", "unet16", input_shape=(32, 32, 1), filters=2)
    img = np.random.default_rng(0).integers(0, 256, (50, 70), dtype=np.uint8)
    assert ImageDenoiser(model)(img).shape == (50, 70)


def test_numpy_models_share_one_base():
    from hpdesc.models import is_trainable, numpy_compute
    from hpdesc.models.numpy import NumpyModel

    for kind, name in (("descriptor", "sift"), ("denoiser", "nlmeans"), ("denoiser", "median")):
        model = registry.build(kind, name, input_shape=(32, 32, 1))
        assert isinstance(model, NumpyModel) and numpy_compute(model) == model.compute
        assert not is_trainable(model) and not model.fully_convolutional
    keras_model = registry.build("descriptor", "raw", input_shape=(32, 32, 1))
    assert numpy_compute(keras_model) is None


def test_a_numpy_model_is_a_subclass_with_compute(tmp_path):
    """The documented recipe (docs/plugins.md): subclass, compute, params; predict and saving come with it."""
    import keras

    from hpdesc.models.numpy import NumpyModel

    @keras.saving.register_keras_serializable(package="hpdesc_tests")
    class Mean(NumpyModel):
        def __init__(self, input_shape=(32, 32, 1), dim=4, **kw):
            super().__init__(input_shape, **kw)
            self.dim = dim

        def compute(self, batch):
            return np.repeat(np.asarray(batch).mean(axis=(1, 2, 3))[:, None], self.dim, axis=1).astype(np.float32)

        def params(self):
            return {"dim": self.dim}

    m = Mean(dim=3)
    x = np.full((5, 32, 32, 1), 0.5, np.float32)
    assert m.predict(x, batch_size=2).shape == (5, 3) and np.allclose(m.predict(x), 0.5)
    assert m.predict(x[:0]).shape == (0, 3)
    m.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(again, Mean) and again.dim == 3
