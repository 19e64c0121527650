"""One float -> uint8 rule everywhere: round(clip(x, 0, 1) * 255), half to even, in the input's dtype."""

from __future__ import annotations

import numpy as np

from hpdesc.pixels import quantise


def test_quantise_clips_and_rounds_half_to_even():
    x = np.array([-0.2, 0.0, 0.5 / 255, 1.5 / 255, 2.5 / 255, 1.0, 1.7])
    assert quantise(x).tolist() == [0, 0, 0, 2, 2, 255, 255]
    assert quantise(x).dtype == np.uint8


def test_every_copy_is_the_one_rule():
    from hpdesc.data.batches import to_uint8 as patches_u8
    from hpdesc.matching.keypoints import to_uint8 as image_u8
    from hpdesc.models.layers import QuantizeUint8

    x = np.random.default_rng(0).uniform(-0.1, 1.1, (4, 32, 32, 1)).astype(np.float32)
    want = quantise(x[..., 0])
    np.testing.assert_array_equal(patches_u8(x), want)
    np.testing.assert_array_equal(image_u8(x[0, ..., 0]), want[0])
    layer = np.asarray(QuantizeUint8()(x))[..., 0]
    np.testing.assert_array_equal(np.rint(layer * 255).astype(np.uint8), want)
