"""training.descriptor_augment: the same flip / rot90 for anchor and positive."""

from __future__ import annotations

import numpy as np

from hpdesc.data import batches as B


def test_dihedral_covers_the_eight_transforms():
    x = np.arange(16, dtype=np.uint8).reshape(1, 4, 4)
    outs = {B.dihedral(x, np.array([t]))[0].tobytes() for t in range(8)}
    assert len(outs) == 8
    np.testing.assert_array_equal(B.dihedral(x, np.array([0])), x)


def test_augment_applies_the_same_transform_to_anchor_and_positive():
    rng = np.random.default_rng(0)
    # every image of a row is the same texture: anchor == positive iff they got the same transform
    rows = rng.integers(0, 256, size=(40, 1, 32, 32), dtype=np.uint8)
    pool = np.repeat(rows, 3, axis=1)
    plain = list(B.triplet_batches(pool, 16, 64, np.random.default_rng(1), with_negatives=False))
    aug = list(B.triplet_batches(pool, 16, 64, np.random.default_rng(1), with_negatives=False, augment=True))
    changed = 0
    for (a, p), (a0, _) in zip(aug, plain):
        np.testing.assert_array_equal(a, p)
        changed += int(np.any(a != a0))
    assert changed  # the transforms did something
    a, p, n = next(B.triplet_batches(pool, 16, 16, np.random.default_rng(1), augment=True))
    assert a.shape == p.shape == n.shape == (16, 32, 32, 1)
