"""The one float -> uint8 rule: ``round(clip(x, 0, 1) * 255)``, round half to even.

Patches, images and every model's input go through it (the training graph's ``QuantizeUint8``
layer computes the same numbers in keras.ops, :mod:`hpdesc.models.layers`). It computes in the
input's own float dtype, so a float64 image gives the bytes it always gave.
"""

from __future__ import annotations

import numpy as np


def quantise(x) -> np.ndarray:
    """Float data in [0, 1] (any shape) -> uint8: clipped, times 255, rounded half to even."""
    arr = np.asarray(x)
    return np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)


__all__ = ["quantise"]
