"""PyTorch HardNet checkpoints -> hpdesc's Keras HardNet (kornia's ``HardNet`` and the original repository's layout).

Both keep the network in ``features`` (an ``nn.Sequential``): convs at indices 0, 3, 6, 9, 12,
15, a dropout at 18 and the final 8x8 conv at 19, each conv followed by a
``BatchNorm2d(affine=False)`` (1, 4, ..., 16, 20), so a state dict has ``features.N.weight``
(convs) and ``features.N.running_mean`` / ``running_var``.
The original repository (DagnyT/hardnet) saves ``{"epoch": ..., "state_dict": ...}``; kornia's
pretrained files are the same; a bare state dict, or one saved from ``nn.DataParallel``
(``module.`` prefixes), is read too. SOSNet (kornia) keeps the same stack in ``layers`` after an
``InstanceNorm2d`` (convs at 1, 4, ..., 20) and maps onto the same Keras network.

What differs and how the mapping makes up for it (docs/interop.md):

- conv kernels: torch ``(out, in, kh, kw)`` -> Keras ``(kh, kw, in, out)``;
- padding: torch pads stride-2 convs by 1 on every side; Keras' ``same`` pads bottom/right only,
  so the network must be built with ``padding="symmetric"``;
- batch norm epsilon: 1e-5 in torch, 1e-3 Keras' default: built with ``bn_epsilon=1e-5``;
- the final conv's batch norm: built with ``final_bn=True``;
- input standardisation: HardNet divides by the *unbiased* standard deviation (``torch.std``),
  hpdesc's ``PatchStandardize`` by the biased one; the factor ``sqrt((n-1)/n)`` (n = pixels of a
  patch) is folded into the first conv's kernel, exact for that patch size. The epsilons added
  to the std (1e-6 kornia, 1e-7 the original and hpdesc) differ only for nearly flat patches.
  SOSNet's ``InstanceNorm2d`` (biased, 1e-5 added to the variance) is hpdesc's
  ``input_norm="instance"``.

``torch`` is needed to read ``.pth`` / ``.pt`` files (``pip install "hpdesc[interop]"``); a state
dict already in memory (names -> arrays) maps without it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np

from hpdesc.errors import DataFormatError, PluginError, UsageError

TORCH_HARDNET_PARAMS = {"final_bn": True, "padding": "symmetric", "bn_epsilon": 1e-5}
"""The hpdesc ``hardnet`` parameters a PyTorch HardNet state dict needs (besides ``filters`` / ``dim``)."""

# (prefix, conv indices, bn indices, unbiased input std) per known layout
LAYOUTS = {
    "hardnet": ("features.", (0, 3, 6, 9, 12, 15, 19), (1, 4, 7, 10, 13, 16, 20), True),
    "sosnet": ("layers.", (1, 4, 7, 10, 13, 16, 20), (2, 5, 8, 11, 14, 17, 21), False),
}


def read_state_dict(path) -> dict[str, np.ndarray]:
    """A PyTorch checkpoint's state dict as ``{name: array}`` (``state_dict`` unwrapped, ``module.`` dropped)."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{p}: no such checkpoint file" if not p.exists() else f"{p}: is a folder, not a checkpoint")
    try:
        import torch  # noqa: PLC0415 - optional: only reading .pth files needs it
    except ImportError:
        raise PluginError(f"{p}: reading a PyTorch checkpoint needs torch, which is not installed",
                          hint='pip install "hpdesc[interop]" torch==2.13.0 (CPU build; see docs/interop.md)') from None
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataFormatError(f"{p}: not a PyTorch checkpoint torch can read ({first[:200]})") from None
    return state_dict_arrays(obj, str(p))


def state_dict_arrays(obj, source: str = "the checkpoint") -> dict[str, np.ndarray]:
    """``obj`` (a state dict, or a dict holding one under ``state_dict`` / ``model_state_dict``) as numpy arrays."""
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise DataFormatError(f"{source}: holds no state dict (a mapping of parameter names to tensors)")
    out = {}
    for name, value in obj.items():
        name = str(name)
        if name.startswith("module."):
            name = name[len("module."):]
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        if isinstance(value, np.ndarray):
            out[name] = value
    return out


def detect(sd: Mapping[str, np.ndarray], source: str = "the checkpoint") -> str:
    """Which known layout ``sd`` has (``hardnet`` or ``sosnet``); anything else is a DataFormatError."""
    for name, (prefix, convs, bns, _) in LAYOUTS.items():
        if all(f"{prefix}{i}.weight" in sd for i in convs) and f"{prefix}{bns[0]}.running_mean" in sd:
            return name
    sample = ", ".join(sorted(sd)[:4])
    raise DataFormatError(f"{source}: not a HardNet / SOSNet state dict (keys {sample}, ...); hpdesc maps "
                          "kornia's HardNet and SOSNet and the original HardNet repository's checkpoints")


def hardnet_params(sd: Mapping[str, np.ndarray], source: str = "the checkpoint") -> dict:
    """The hpdesc ``hardnet`` parameters ``sd`` needs: ``filters``, ``dim`` and :data:`TORCH_HARDNET_PARAMS`."""
    layout = detect(sd, source)
    prefix, convs, _, _ = LAYOUTS[layout]
    out = {"filters": int(sd[f"{prefix}{convs[0]}.weight"].shape[0]),
           "dim": int(sd[f"{prefix}{convs[-1]}.weight"].shape[0]), **TORCH_HARDNET_PARAMS}
    if layout == "sosnet":
        out["input_norm"] = "instance"
    return out


def _layer(model, name: str, source: str):
    try:
        return model.get_layer(name)
    except ValueError:
        raise UsageError(f"{source}: the Keras model has no layer {name!r}; it is not hpdesc's hardnet "
                         f"built with {_fmt(TORCH_HARDNET_PARAMS)}") from None


def _fmt(params: Mapping) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def check_hardnet_model(model, source: str = "the checkpoint") -> None:
    """Refuse a Keras model that a PyTorch HardNet cannot fill exactly (padding, epsilon, final norm)."""
    import keras

    bad = []
    if not any(la.name == "conv7_bn" for la in model.layers):
        bad.append("final_bn=true")
    if not any(la.name == "conv3_pad" for la in model.layers):
        bad.append("padding=symmetric")
    eps = {round(float(la.epsilon), 12) for la in model.layers if isinstance(la, keras.layers.BatchNormalization)}
    if eps != {1e-5}:
        bad.append("bn_epsilon=1e-5")
    if bad:
        raise UsageError(f"{source}: a PyTorch HardNet needs hpdesc's hardnet built with {', '.join(bad)}",
                         hint=f"--set descriptor.{' --set descriptor.'.join(bad)} (hpdesc train --init "
                              "FILE.pth sets them itself when they are not set)")


def load_hardnet(model, sd: Mapping[str, np.ndarray], source: str = "the checkpoint") -> None:
    """Copy a HardNet / SOSNet state dict into hpdesc's Keras ``hardnet`` ``model`` (in place).

    ``model`` must be built with ``final_bn=True, padding="symmetric", bn_epsilon=1e-5`` and the
    checkpoint's ``filters`` / ``dim``; a mismatch is one UsageError line naming the layer.
    """
    layout = detect(sd, source)
    prefix, convs, bns, unbiased = LAYOUTS[layout]
    extra = [f"{prefix}{i}.bias" for i in convs if f"{prefix}{i}.bias" in sd]
    extra += [f"{prefix}{i}.weight" for i in bns if f"{prefix}{i}.weight" in sd]
    if extra:
        raise DataFormatError(f"{source}: has {extra[0]}; hpdesc's hardnet has bias-free convs and "
                              "BatchNorm2d(affine=False) as HardNet, so it cannot hold it")
    check_hardnet_model(model, source)
    want = 1e-5 if layout == "sosnet" else 0.0
    if abs(float(getattr(_layer(model, "input_norm", source), "variance_epsilon", 0.0)) - want) > 1e-12:
        raise UsageError(f"{source}: a PyTorch {'SOSNet' if want else 'HardNet'} needs hpdesc's hardnet built with "
                         f"input_norm={'instance' if want else 'standardize'}")
    h, w, c = (int(s) for s in model.input_shape[1:])
    for k, (ci, bi) in enumerate(zip(convs, bns), start=1):
        kernel = np.transpose(np.asarray(sd[f"{prefix}{ci}.weight"], np.float32), (2, 3, 1, 0))
        if k == 1 and unbiased:  # torch.std is unbiased; PatchStandardize divides by the biased std
            n = h * w * c
            kernel = kernel * np.float32(math.sqrt((n - 1) / n))
        conv = _layer(model, f"conv{k}", source)
        if tuple(conv.kernel.shape) != kernel.shape:
            raise UsageError(f"{source}: {prefix}{ci}.weight has shape {kernel.shape} in Keras order, the model's "
                             f"conv{k} {tuple(conv.kernel.shape)}", hint="build hardnet with the checkpoint's "
                             f"filters / dim ({_fmt(hardnet_params(sd, source))})")
        conv.kernel.assign(kernel)
        bn = _layer(model, f"conv{k}_bn", source)
        for attr, key in (("moving_mean", "running_mean"), ("moving_variance", "running_var")):
            name = f"{prefix}{bi}.{key}"
            if name not in sd:
                raise DataFormatError(f"{source}: {name} is missing (a batch norm without running statistics)")
            getattr(bn, attr).assign(np.asarray(sd[name], np.float32))
