"""Tiled whole-image denoising equals one pass of the fully convolutional model over the whole image."""

import numpy as np
import pytest

from hpdesc import registry
from hpdesc.data.batches import to_float, to_uint8
from hpdesc.inference import wholeimage as W


@pytest.mark.parametrize("shape, tiles", [((300, 500), False), ((300, 500), True), ((20, 37), False)])
def test_tiles_match_a_single_pass(shape, tiles, monkeypatch):
    if tiles:  # force the tiled path: 128-px windows keep their 32-px centre, so many tiles per axis
        monkeypatch.setattr(W, "MAX_PIXELS", 0)
        monkeypatch.setattr(W, "WINDOW", 128)
    model = registry.build("denoiser", "dncnn", input_shape=(32, 32, 1), depth=3, filters=8, final_init="orthogonal")
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    got = W.ImageDenoiser(model)(img)
    full = W.any_size_model(model)
    pad = 8  # > the receptive radius of 3 convs: the interior of a single pass is exact
    big = np.pad(img, pad, mode="reflect")
    want = to_uint8(np.asarray(full.predict_on_batch(to_float(big[None]))))[0][pad:-pad, pad:-pad]
    assert got.shape == shape
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1  # float rounding may flip one grey level
    assert not np.array_equal(got, img)  # the model changed the image
