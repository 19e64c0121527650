"""Tiny ONNX models written with onnx.helper (no torch needed): a linear descriptor, a denoiser, bad files."""

from __future__ import annotations

import numpy as np


def _save(graph, path, opset: int = 17):
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def linear_descriptor(path, weight: np.ndarray, layout: str = "NCHW", size: int = 32, batch="B",
                      normalize: bool = False):
    """``flatten(x) @ weight`` (unit L2 norm with ``normalize``): input ``(B, 1, size, size)`` (NCHW) or NHWC."""
    from onnx import TensorProto, helper, numpy_helper

    shape = [batch, 1, size, size] if layout == "NCHW" else [batch, size, size, 1]
    x = helper.make_tensor_value_info("patches", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("desc", TensorProto.FLOAT, [batch, weight.shape[1]])
    w = numpy_helper.from_array(weight.astype(np.float32), "w")
    nodes = [helper.make_node("Flatten", ["patches"], ["flat"], axis=1),
             helper.make_node("MatMul", ["flat", "w"], ["lin" if normalize else "desc"])]
    if normalize:
        nodes.append(helper.make_node("LpNormalization", ["lin"], ["desc"], axis=1, p=2))
    return _save(helper.make_graph(nodes, "linear", [x], [y], [w]), path)


def affine_denoiser(path, scale: float, shift: float, layout: str = "NCHW"):
    """``x * scale + shift``, input and output ``(B, 1, H, W)`` (or NHWC) with symbolic sizes."""
    from onnx import TensorProto, helper, numpy_helper

    shape = ["B", 1, "H", "W"] if layout == "NCHW" else ["B", "H", "W", 1]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, shape)
    a = numpy_helper.from_array(np.array(scale, np.float32), "a")
    b = numpy_helper.from_array(np.array(shift, np.float32), "b")
    nodes = [helper.make_node("Mul", ["x", "a"], ["ax"]), helper.make_node("Add", ["ax", "b"], ["y"])]
    return _save(helper.make_graph(nodes, "affine", [x], [y], [a, b]), path)


def rank3_input(path):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 1024])
    node = helper.make_node("Flatten", ["x"], ["y"], axis=1)
    return _save(helper.make_graph([node], "rank3", [x], [y]), path)


def four_d_output(path):
    """A descriptor that forgot to flatten: ``(B, 1, 32, 32)`` -> ``(B, 1, 32, 32)``."""
    return affine_denoiser(path, 1.0, 0.0)
