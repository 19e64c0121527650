"""Writing an export: ONNX (tf2onnx through Keras) and SavedModel writers and runners, the atomic folder."""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

import numpy as np

from hpdesc.atomic import atomic_folder, make_dirs  # noqa: F401 - atomic_folder re-exported for hpdesc.export
from hpdesc.errors import UsageError, WriteError
from hpdesc.export.graph import CARD, INPUT, ONNX_FILE

@contextlib.contextmanager
def _quiet():
    """tf2onnx's INFO logs and Keras' numpy-2 patch warning are noise to the user."""
    log = logging.getLogger("tf2onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


def write_onnx(graph, path: Path, output: str) -> int:
    """``graph`` as an ONNX file: input ``patches``, output ``output``, batch dimension ``batch``; returns the opset."""
    import onnx

    with _quiet():
        graph.export(str(path), format="onnx", verbose=False)
    proto = onnx.load(str(path))
    old = proto.graph.output[0].name
    for node in proto.graph.node:  # tf2onnx names the output after the TF tensor ("Identity:0")
        node.output[:] = [output if o == old else o for o in node.output]
        node.input[:] = [output if i == old else i for i in node.input]
    proto.graph.output[0].name = output
    for value in (proto.graph.input[0], proto.graph.output[0]):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = "batch"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    """The ONNX file's output on ``x`` under onnxruntime (CPU)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {INPUT: x})[0])


def write_saved_model(graph, folder: Path) -> None:
    """``graph`` as a TensorFlow SavedModel in ``folder`` (endpoint ``serve``, signature ``serving_default``)."""
    with _quiet():
        graph.export(str(folder), format="tf_saved_model", verbose=False)


def run_saved_model(folder: Path, x: np.ndarray) -> np.ndarray:
    """The SavedModel's ``serve`` endpoint on ``x``."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder))  # held: its variables die with it
    return np.asarray(loaded.serve(tf.constant(x)))


def default_out(run_path: Path, what: str, fmt: str) -> Path:
    """``RUN/export/<what>-<format>``."""
    return Path(run_path) / "export" / f"{what}-{fmt}"


def check_out(out: Path) -> None:
    """An export folder may replace an earlier export, nothing else."""
    if out.suffix in (".onnx", ".pb", ".keras", ".md"):
        raise UsageError(f"--out {out}: give a folder; the export writes {ONNX_FILE} (or the SavedModel) and "
                         f"{CARD} into it", hint=f"e.g. --out {out.with_suffix('')}")
    if out.exists():
        if not out.is_dir():
            raise WriteError(f"cannot write {out}: it is a file, not a folder")
        if any(out.iterdir()) and not (out / CARD).is_file():
            raise UsageError(f"{out} exists and is not an hpdesc export (no {CARD}); it is left as it is",
                             hint="choose another --out (an earlier export there would be replaced)")


