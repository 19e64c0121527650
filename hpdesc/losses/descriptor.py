"""Descriptor losses: triplet margin loss and HardNet's hardest-in-batch negative mining."""

from __future__ import annotations

from keras import ops

from hpdesc.errors import ParameterError
from hpdesc.params import check_bool, check_float

REDUCTIONS = ("mae", "mse")
# Added to the matching pairs' distances so the min over a row never picks the positive.
_DIAGONAL_PENALTY = 1e6


def _distance(x, y, eps):
    """Row-wise L2 distance; ``eps`` under the root keeps the gradient finite at zero distance."""
    return ops.sqrt(ops.sum(ops.square(x - y), axis=-1) + eps)


def _distance_matrix(anchor, positive, eps):
    """``D[i, j] = ||anchor_i - positive_j||`` via the Gram matrix (clamped at 0 before sqrt)."""
    sq_a = ops.sum(ops.square(anchor), axis=-1)
    sq_p = ops.sum(ops.square(positive), axis=-1)
    gram = ops.matmul(anchor, ops.transpose(positive))
    sq = ops.maximum(sq_a[:, None] + sq_p[None, :] - 2.0 * gram, 0.0)
    return ops.sqrt(sq + eps)


def triplet(margin: float = 1.0, reduction: str = "mae", eps: float = 1e-6):
    """Triplet margin loss ``max(0, margin + d(a, p) - d(a, n))`` with L2 distance, batch-averaged.

    ``reduction="mae"`` averages the hinge, ``"mse"`` averages the squared hinge (the seed
    report's "triplet + MAE / MSE"). ``d = sqrt(||x - y||^2 + eps)``.

    Shape:
        ``loss(anchor, positive, negative)``: three ``(B, dim)`` tensors -> scalar.
    """
    margin = check_float("margin", margin, minimum=0.0)
    eps = check_float("eps", eps, minimum=0.0)
    if reduction not in REDUCTIONS:
        raise ParameterError(
            f"parameter 'reduction' must be one of {', '.join(REDUCTIONS)}; got {reduction!r}"
        )

    def loss(anchor, positive, negative):
        hinge = ops.relu(
            margin + _distance(anchor, positive, eps) - _distance(anchor, negative, eps)
        )
        return ops.mean(hinge if reduction == "mae" else ops.square(hinge))

    loss.__name__ = "triplet"
    return loss


def hardnet(margin: float = 1.0, anchor_swap: bool = True, eps: float = 1e-6):
    """HardNet loss (Mishchuk et al. 2017): hardest-in-batch negative, hinge with margin, mean.

    ``D[i, j] = ||a_i - p_j||``; for pair i the negative distance is the smallest off-diagonal
    entry of row i (closest non-matching positive) and, with ``anchor_swap``, of column i too
    (closest non-matching anchor to ``p_i``). Loss = mean_i ``max(0, margin + D[i, i] - neg_i)``.
    ``negative`` is ignored. Needs a batch of at least 2 distinct pairs.

    Shape:
        ``loss(anchor, positive, negative)``: three ``(B, dim)`` tensors -> scalar.
    """
    margin = check_float("margin", margin, minimum=0.0)
    anchor_swap = check_bool("anchor_swap", anchor_swap)
    eps = check_float("eps", eps, minimum=0.0)

    def loss(anchor, positive, negative=None):
        anchor = ops.convert_to_tensor(anchor)
        dist = _distance_matrix(anchor, positive, eps)
        pos = ops.diagonal(dist)
        eye = ops.eye(ops.shape(dist)[0], dtype=dist.dtype)
        off_diag = dist + eye * _DIAGONAL_PENALTY
        neg = ops.min(off_diag, axis=1)
        if anchor_swap:
            neg = ops.minimum(neg, ops.min(off_diag, axis=0))
        return ops.mean(ops.relu(margin + pos - neg))

    loss.__name__ = "hardnet"
    return loss
