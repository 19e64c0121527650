"""Denoiser and descriptor losses against hand-computed numbers."""

from __future__ import annotations

import importlib.metadata

import keras
import numpy as np
import pytest

from hpdesc.losses import denoiser, descriptor


def _np(x):
    return float(keras.ops.convert_to_numpy(x))


def _grad(fn, x):
    """Gradient of scalar ``fn(x)`` w.r.t. ``x`` on the active backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        var = tf.Variable(x)
        with tf.GradientTape() as tape:
            value = fn(var)
        return tape.gradient(value, var).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(x))
    if backend == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        fn(t).backward()
        return t.grad.numpy()
    pytest.skip(f"no gradient helper for backend {backend}")


def test_registered():
    names = {ep.name for ep in importlib.metadata.entry_points(group="hpdesc.denoiser_losses")}
    assert {"mae", "mse"} <= names
    names = {ep.name for ep in importlib.metadata.entry_points(group="hpdesc.descriptor_losses")}
    assert {"triplet", "hardnet"} <= names
    for group in ("hpdesc.denoiser_losses", "hpdesc.descriptor_losses"):
        for ep in importlib.metadata.entry_points(group=group):
            assert callable(ep.load()())


def test_mae_mse():
    clean = np.zeros((2, 2, 2, 1), np.float32)
    denoised = np.array([1, -1, 2, 0, 0, 0, 0, 4], np.float32).reshape(2, 2, 2, 1)
    assert _np(denoiser.mae()(clean, denoised)) == pytest.approx(8 / 8)
    assert _np(denoiser.mse()(clean, denoised)) == pytest.approx((1 + 1 + 4 + 16) / 8)
    with pytest.raises(TypeError):
        denoiser.mae(reduction="sum")


def _patches(seed=0, batch=4):
    """Smooth patches in [0, 1] (random texture box-blurred twice), mean about 0.5."""
    x = np.random.default_rng(seed).random((batch, 32, 32, 1)).astype(np.float32)
    for _ in range(2):
        p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        x = sum(p[:, i:i + 32, j:j + 32] for i in range(3) for j in range(3)) / 9.0
    return ((x - x.min()) / (x.max() - x.min())).astype(np.float32)


@pytest.mark.parametrize("ep", sorted(importlib.metadata.entry_points(group="hpdesc.denoiser_losses"),
                                      key=lambda e: e.name), ids=lambda e: e.name)
def test_every_denoiser_loss_ranks_inverted_patches_worst(ep):
    """A negated (-x) or inverted (1 - x) output must score worse than the noisy input, and the
    gradient at a negated output must point back towards the clean patch (not towards -x).

    A similarity loss that can be won by -x trains a denoiser whose outputs are black once
    stored as uint8 (issue 13, item 9: SSIM did).
    """
    loss = ep.load()()
    x = _patches()
    noisy = np.clip(x + np.random.default_rng(1).normal(0, 0.1, x.shape), 0, 1).astype(np.float32)
    base = _np(loss(x, noisy))
    for wrong in (-x, 1.0 - x):
        assert _np(loss(x, wrong)) > base, ep.name
    g = _grad(lambda d: loss(x, d), -x)
    assert np.all(np.isfinite(g))
    # a small step down the gradient moves the output towards the clean patch
    step = -g / np.abs(g).max()
    assert float(np.sum(step * (x - (-x)))) > 0, ep.name


# Triplet 0: d(a,p) = 5, d(a,n) = 1 -> hinge 1 + 5 - 1 = 5; triplet 1: d = 1, 3 -> hinge 0.
A = np.array([[0, 0], [0, 0]], np.float32)
P = np.array([[3, 4], [0, 1]], np.float32)
N = np.array([[1, 0], [0, 3]], np.float32)


@pytest.mark.parametrize("reduction,expected", [("mae", 2.5), ("mse", 12.5)])
def test_triplet_values(reduction, expected):
    loss = descriptor.triplet(margin=1.0, reduction=reduction)
    assert _np(loss(A, P, N)) == pytest.approx(expected, rel=1e-4)


def test_triplet_margin():
    # margin 3: hinges 3 + 5 - 1 = 7 and 3 + 1 - 3 = 1 -> mean 4.
    assert _np(descriptor.triplet(margin=3.0)(A, P, N)) == pytest.approx(4.0, rel=1e-4)


# D[i, j] = ||a_i - p_j||: [[1, 5], [2, 2]].
HA = np.array([[0, 0], [0, 3]], np.float32)
HP = np.array([[0, 1], [0, 5]], np.float32)


def test_hardnet_mining_with_anchor_swap():
    # margin 2. pair 0: pos 1, hardest negative min(row 5, column 2) = 2 -> 2 + 1 - 2 = 1;
    # pair 1: pos 2, min(row 2, column 5) = 2 -> 2 + 2 - 2 = 2. Mean 1.5.
    loss = descriptor.hardnet(margin=2.0, anchor_swap=True)
    assert _np(loss(HA, HP, np.zeros_like(HA))) == pytest.approx(1.5, rel=1e-4)


def test_hardnet_mining_without_anchor_swap():
    # Rows only: pair 0: 2 + 1 - 5 < 0 -> 0; pair 1: 2 + 2 - 2 = 2. Mean 1.0.
    loss = descriptor.hardnet(margin=2.0, anchor_swap=False)
    assert _np(loss(HA, HP, np.zeros_like(HA))) == pytest.approx(1.0, rel=1e-4)


def _hardnet_reference(a, p, margin, swap):
    d = np.linalg.norm(a[:, None, :] - p[None, :, :], axis=-1)
    pos = np.diag(d).copy()
    off = d + np.eye(len(d)) * 1e6
    neg = off.min(axis=1)
    if swap:
        neg = np.minimum(neg, off.min(axis=0))
    return np.maximum(0.0, margin + pos - neg).mean()


@pytest.mark.parametrize("swap", [True, False])
def test_hardnet_matches_brute_force(swap):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(16, 8)).astype(np.float32)
    p = (a + 0.3 * rng.normal(size=a.shape)).astype(np.float32)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    loss = descriptor.hardnet(anchor_swap=swap)
    negatives = rng.normal(size=a.shape).astype(np.float32)  # ignored
    assert _np(loss(a, p, negatives)) == pytest.approx(_hardnet_reference(a, p, 1.0, swap), abs=1e-4)


def test_zero_distance_gradients_are_finite():
    x = np.ones((3, 4), np.float32)
    other = np.array([[1, 1, 1, 1], [0, 1, 0, 1], [1, 0, 0, 0]], np.float32)
    triplet = descriptor.triplet()
    hard = descriptor.hardnet()
    # anchor == positive (zero distance) and anchor == negative in the first row.
    g1 = _grad(lambda t: triplet(t, x, other), x)
    # every matching pair at zero distance, the hardest negatives within the margin.
    close = 0.3 * other
    g2 = _grad(lambda t: hard(t, close, None), close)
    assert np.all(np.isfinite(g1)) and np.all(np.isfinite(g2))
    assert np.any(g2 != 0)


@pytest.mark.parametrize("factory,params,name", [
    (descriptor.triplet, {"margin": -1.0}, "margin"),
    (descriptor.triplet, {"reduction": "sum"}, "reduction"),
    (descriptor.hardnet, {"margin": "big"}, "margin"),
    (descriptor.hardnet, {"anchor_swap": "yes"}, "anchor_swap"),
])
def test_bad_values(factory, params, name):
    with pytest.raises(ValueError, match=name):
        factory(**params)


def test_unknown_params():
    with pytest.raises(TypeError):
        descriptor.triplet(swap=True)
    with pytest.raises(TypeError):
        descriptor.hardnet(reduction="mae")
