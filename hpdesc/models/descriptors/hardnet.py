"""HardNet / L2-Net patch descriptor network (Mishchuk et al. 2017; Tian et al. 2017)."""

from __future__ import annotations

import math

import keras

from hpdesc.errors import ParameterError
from hpdesc.models.layers import L2Normalize, PatchStandardize, check_common, conv_block
from hpdesc.params import check_bool, check_float, check_input_shape, check_int

PADDINGS = ("same", "symmetric")
INPUT_NORMS = ("standardize", "instance")


def hardnet(input_shape=(32, 32, 1), dim: int = 128, filters: int = 32, dropout: float = 0.3,
            bn_affine: bool = False, final_bn: bool = False, activation: str = "relu",
            alpha: float | None = None, init: str = "orthogonal", padding: str = "same",
            bn_epsilon: float = 1e-3, input_norm: str = "standardize") -> keras.Model:
    """HardNet descriptor (Mishchuk et al. 2017): L2-Net's 7-conv net, L2-normalised output.

    Per-patch input standardisation ``(x - mean) / (std + 1e-7)``; 3x3 convs with
    ``f, f, 2f`` (stride 2), ``2f, 4f`` (stride 2), ``4f`` channels (``f = filters``, 32 in the
    paper), each conv + BN (``bn_affine=False`` as in HardNet) + activation; dropout (rate
    ``dropout``); a valid conv whose kernel covers the remaining map (8x8 for 32x32 input) to
    ``dim`` channels, linear (HardNet also batch-normalises it: ``final_bn=True``); flatten and
    L2-normalise. Orthogonal init as in the reference code. ``activation`` is ``relu`` or
    ``leaky_relu`` (negative slope ``alpha``, 0.2 by default; ``alpha`` only with ``leaky_relu``).
    ``padding``: ``same`` (Keras', the default: stride-2 convs pad bottom/right only) or
    ``symmetric`` (PyTorch's ``padding=1``, as the reference HardNet / kornia code); ``bn_epsilon``:
    the batch norms' epsilon (1e-3, Keras'; the PyTorch networks use 1e-5). PyTorch HardNet
    weights load into ``final_bn=true, padding=symmetric, bn_epsilon=1e-5`` (``hpdesc.load_weights``,
    ``hpdesc train --init FILE.pth``; docs/interop.md). ``input_norm``: ``standardize`` (the
    above) or ``instance`` (PyTorch's ``InstanceNorm2d``: ``(x - mean) / sqrt(var + 1e-5)``, SOSNet's).

    Shape:
        input ``(B, H, W, 1)`` in [0, 1] -> output ``(B, dim)``, unit L2 norm.
    """
    shape = check_input_shape(input_shape, minimum=4)
    check_int("dim", dim)
    check_int("filters", filters)
    check_float("dropout", dropout, minimum=0.0, maximum=1.0, include_max=False)
    check_bool("bn_affine", bn_affine)
    check_bool("final_bn", final_bn)
    check_common(activation, alpha, init)
    if padding not in PADDINGS:
        raise ParameterError(f"parameter 'padding' must be one of {', '.join(PADDINGS)}; got {padding!r}")
    if input_norm not in INPUT_NORMS:
        raise ParameterError(f"parameter 'input_norm' must be one of {', '.join(INPUT_NORMS)}; got {input_norm!r}")
    check_float("bn_epsilon", bn_epsilon, minimum=0.0)
    if not bn_epsilon > 0:
        raise ParameterError(f"parameter 'bn_epsilon' must be > 0, got {bn_epsilon!r}")
    blk = dict(kernel=3, bn=True, bn_affine=bn_affine, activation=activation, alpha=alpha,
               init=init, bn_epsilon=bn_epsilon)

    inputs = keras.Input(shape, name="patch")
    norm = {"epsilon": 0.0, "variance_epsilon": 1e-5} if input_norm == "instance" else {}
    x = PatchStandardize(name="input_norm", **norm)(inputs)
    for i, (mult, stride) in enumerate([(1, 1), (1, 1), (2, 2), (2, 1), (4, 2), (4, 1)]):
        # symmetric padding changes only the stride-2 convs: keep the other layers as they were
        pad = "symmetric" if padding == "symmetric" and stride == 2 else "same"
        x = conv_block(x, mult * filters, strides=stride, name=f"conv{i + 1}", padding=pad, **blk)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    # Two stride-2 "same" convs leave ceil(H/4) x ceil(W/4): the last conv covers all of it.
    kernel = (math.ceil(shape[0] / 4), math.ceil(shape[1] / 4))
    x = conv_block(x, dim, kernel=kernel, padding="valid", bn=final_bn, bn_affine=bn_affine,
                   bn_epsilon=bn_epsilon, activation=None, init=init, name="conv7")
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = L2Normalize(name="l2_norm")(x)
    return keras.Model(inputs, outputs, name="hardnet")
