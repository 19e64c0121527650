"""Denoiser losses: pixel-wise reconstruction error between clean and denoised patches."""

from __future__ import annotations

from keras import ops


def mae():
    """Mean absolute error between clean and denoised patches (L1 reconstruction loss).

    Shape:
        ``loss(clean, denoised)``: two ``(B, H, W, C)`` tensors -> scalar.
    """

    def loss(clean, denoised):
        return ops.mean(ops.abs(ops.convert_to_tensor(clean) - denoised))

    loss.__name__ = "mae"
    return loss


def mse():
    """Mean squared error between clean and denoised patches (L2 reconstruction loss).

    Shape:
        ``loss(clean, denoised)``: two ``(B, H, W, C)`` tensors -> scalar.
    """

    def loss(clean, denoised):
        return ops.mean(ops.square(ops.convert_to_tensor(clean) - denoised))

    loss.__name__ = "mse"
    return loss
