"""What an export contains: the choices, the checks, and the float32 Keras graph of a run's models.

Runs train under the mixed bfloat16 policy by default; every export rebuilds the run's models from
its config under the float32 policy, copies the trained weights in, and wraps them in one Keras
graph ``patches (B, 32, 32, 1) float32 in [0, 1] -> output`` (see :mod:`hpdesc.export`).
"""

from __future__ import annotations

import contextlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hpdesc.errors import HpdescError, UsageError

WHATS = ("descriptor", "denoiser", "pipeline")
FORMATS = ("onnx", "saved_model")
INPUT = "patches"
PATCH = (32, 32, 1)
CARD = "MODEL.md"
ONNX_FILE = "model.onnx"
ONNX_PACKAGES = ("onnx", "tf2onnx", "onnxruntime")
CHECK_PATCHES = 64
"""Patches the exported graph is checked on after writing (random levels of a uint8 image)."""
TOLERANCE = {"descriptor": 1e-4, "denoiser": 1 / 255, "pipeline": 1e-3}
"""Largest difference from the float32 Keras graph an export is expected to show (beyond it: a warning).

A pipeline may differ more than a descriptor: a denoised value on a rounding boundary can go to
either uint8 level."""


class ExportError(HpdescError):
    """A run's model that cannot be exported (exit 1)."""


@dataclass
class ExportResult:
    """What :func:`export_run` wrote and how the written graph compared with the float32 Keras graph."""

    path: Path
    model_file: Path
    what: str
    format: str
    output: str
    output_shape: tuple
    max_abs_diff: float
    checked_patches: int
    unit_norm: bool = False
    opset: int | None = None
    warnings: list = field(default_factory=list)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        from hpdesc.errors import did_you_mean

        raise UsageError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}{did_you_mean(fmt, FORMATS)}")
    return fmt


def check_what(what: str) -> str:
    if what not in WHATS:
        from hpdesc.errors import did_you_mean

        raise UsageError(f"unknown --what {what!r}; use one of {', '.join(WHATS)}{did_you_mean(what, WHATS)}")
    return what


def require_exporters(fmt: str) -> None:
    """One line naming the ``export`` extra when ONNX export's packages are missing; the TensorFlow backend."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise UsageError(f"hpdesc export runs on the TensorFlow backend; this process uses {keras.backend.backend()}",
                         hint="run it with KERAS_BACKEND=tensorflow (the exported graph runs anywhere)")
    if fmt != "onnx":
        return
    missing = [m for m in ONNX_PACKAGES if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"ONNX export needs {', '.join(missing)}, not installed: pip install \"hpdesc[export]\"")


def exportable(model, name: str, role: str) -> None:
    """Refuse a model that is not a Keras graph (sift, classical denoisers: numpy / OpenCV code)."""
    import keras

    from hpdesc.models import numpy_compute

    if numpy_compute(model) is not None or not isinstance(model, keras.Model):
        raise UsageError(f"the {role} {name!r} runs numpy / OpenCV code, not a Keras graph: it cannot be exported "
                         "to ONNX or a SavedModel",
                         hint=f"hpdesc computes it directly (hpdesc describe); export a run with a Keras {role}")


def resolve_what(what: str | None, cfg, denoiser, descriptor) -> str:
    """The default ``what`` (the pipeline if the run has a descriptor, else the denoiser), checked."""
    if what is None:
        what = "pipeline" if descriptor is not None else "denoiser"
    check_what(what)
    if what in ("descriptor", "pipeline") and descriptor is None:
        raise UsageError(f"the run has no descriptor (a denoiser-only run), so there is no {what} to export",
                         hint="export its denoiser: --what denoiser")
    if what == "denoiser" and (denoiser is None or is_identity(denoiser)):
        name = cfg.denoiser.name if denoiser is not None else "none"
        raise UsageError(f"the run's denoiser is {name!r}: nothing to export (it returns its input)",
                         hint="export the descriptor: --what descriptor")
    return what


@contextlib.contextmanager
def _float32_policy():
    import keras

    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(old)


def float32_model(cfg, section: str, trained):
    """``trained`` (a run's model) rebuilt from the run's config under the float32 policy, with its weights.

    The config records every parameter the factory was called with, so the rebuild has the same
    layers and weights in the same order; a model that does not match is an ExportError.
    """
    from hpdesc import registry
    from hpdesc.validate import ensure_built

    comp = cfg.component(section)
    with _float32_policy():
        model = ensure_built(registry.build(section, comp.name, input_shape=PATCH, **comp.params))
    ours, theirs = model.weights, trained.weights
    shapes = [tuple(w.shape) for w in ours], [tuple(w.shape) for w in theirs]
    if shapes[0] != shapes[1]:
        raise ExportError(f"the {section} {comp.name!r} rebuilt from the run's config does not match its saved model "
                          f"({len(ours)} weights vs {len(theirs)} saved)",
                          hint="was the plugin that built it changed since the run? see [provenance] in config.toml")
    model.set_weights(trained.get_weights())
    return model


def is_identity(model) -> bool:
    from hpdesc.inference.pipeline import is_identity

    return is_identity(model)


def export_graph(what: str, denoiser=None, descriptor=None):
    """One float32 Keras model ``patches -> output`` for ``what``: its models must be float32 already."""
    import keras

    from hpdesc.models.layers import QuantizeUint8

    with _float32_policy():
        inputs = keras.Input(PATCH, name=INPUT, dtype="float32")
        x = inputs
        if what in ("denoiser", "pipeline") and denoiser is not None:
            x = denoiser(x, training=False)
            if what == "pipeline":
                x = QuantizeUint8(name="uint8")(x)
        if what in ("descriptor", "pipeline"):
            x = descriptor(x, training=False)
        x = keras.layers.Identity(name="descriptors" if what != "denoiser" else "denoised")(x)
        return keras.Model(inputs, x, name=f"hpdesc_{what}")


def check_patches(n: int = CHECK_PATCHES, seed: int = 0) -> np.ndarray:
    """``n`` patches of random uint8 levels as hpdesc feeds them, ``(n, 32, 32, 1)`` float32 in [0, 1]."""
    from hpdesc.data.batches import to_float

    rng = np.random.default_rng(seed)
    smooth = rng.integers(0, 256, size=(n, 8, 8)).repeat(4, 1).repeat(4, 2)  # some structure, some noise
    return to_float(np.clip(smooth + rng.normal(0, 20, smooth.shape), 0, 255).astype(np.uint8))
