"""Take a run's trained models out of hpdesc: float32 rebuilds, ONNX / SavedModel writers, the model card.

Runs train under the mixed bfloat16 policy by default, and a graph exported from such a model is
bfloat16 inside (onnxruntime refuses Keras' own ONNX export of it). So every export rebuilds the
run's models from its config under the float32 policy, copies the trained weights in, and wraps
them in one Keras graph with input ``patches`` ``(B, 32, 32, 1)`` float32 in [0, 1] (any batch):

* ``descriptor``: the descriptor alone -> ``descriptors`` ``(B, D)``;
* ``denoiser``: the denoiser alone -> ``denoised`` ``(B, 32, 32, 1)`` (not rounded);
* ``pipeline``: denoiser -> the uint8 rounding hpdesc applies between the stages
  (:class:`hpdesc.models.layers.QuantizeUint8`) -> descriptor -> ``descriptors``.

The export is a folder, written whole or not at all (a temporary sibling renamed into place):
``model.onnx`` or the SavedModel's files, and ``MODEL.md``, the model card. After writing, the
exported graph runs on a batch of patches and its output is compared with the float32 Keras
graph's; the card records the difference. ONNX needs the ``export`` extra (onnx, tf2onnx and
onnxruntime); a SavedModel needs only TensorFlow. Both need the TensorFlow backend.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpdesc.errors import HpdescError
from hpdesc.export.card import model_card
from hpdesc.export.graph import (CARD, FORMATS, ONNX_FILE, TOLERANCE, WHATS, ExportError, ExportResult, check_format,
                                 check_patches, check_what, export_graph, exportable, float32_model, is_identity,
                                 require_exporters, resolve_what)
from hpdesc.export.writers import (atomic_folder, check_out, default_out, run_onnx, run_saved_model, write_onnx,
                                   write_saved_model)

def export_run(run_path: Path, cfg, denoiser, descriptor, *, what: str | None = None, fmt: str = "onnx",
               out=None, reporter=None) -> ExportResult:
    """Export a loaded run's ``what`` as ``fmt`` into the folder ``out`` (default ``RUN/export/<what>-<fmt>``).

    ``denoiser`` / ``descriptor`` are the run's saved models (None where it has none). Returns an
    :class:`ExportResult`. Raises UsageError for a bad choice, a missing extra or an unusable
    ``out``, ExportError for a model that cannot be rebuilt.
    """
    from hpdesc.progress import Reporter

    reporter = reporter or Reporter()
    check_format(fmt)
    what = resolve_what(what, cfg, denoiser, descriptor)
    require_exporters(fmt)
    out = Path(out) if out is not None else default_out(run_path, what, fmt)
    check_out(out)
    from hpdesc.atomic import refuse_inputs

    refuse_inputs([], [run_path], folders=[out])  # the export folder is replaced whole
    use_den = what in ("denoiser", "pipeline") and denoiser is not None and not is_identity(denoiser)
    use_desc = what in ("descriptor", "pipeline")
    if use_den:
        exportable(denoiser, cfg.denoiser.name, "denoiser")
    if use_desc:
        exportable(descriptor, cfg.descriptor.name, "descriptor")
    den32 = float32_model(cfg, "denoiser", denoiser) if use_den else None
    desc32 = float32_model(cfg, "descriptor", descriptor) if use_desc else None
    graph = export_graph(what, den32, desc32)
    output = "denoised" if what == "denoiser" else "descriptors"
    x = check_patches()
    expected = np.asarray(graph.predict_on_batch(x), np.float32)
    notes, opset = [], None
    with atomic_folder(out) as tmp:
        reporter.start(f"exporting the {what} ({fmt})", None)
        try:
            if fmt == "onnx":
                model_file = tmp / ONNX_FILE
                opset = write_onnx(graph, model_file, output)
                got = run_onnx(model_file, x)
            else:
                model_file = tmp
                write_saved_model(graph, tmp)
                got = run_saved_model(tmp, x)
        except HpdescError:
            raise
        except Exception as exc:  # noqa: BLE001 - a converter failure: one line naming the model
            raise ExportError(f"exporting the {what} as {fmt} failed ({type(exc).__name__}: "
                              f"{(str(exc).strip().splitlines() or [''])[0][:300]})") from None
        finally:
            reporter.done()
        diff = float(np.max(np.abs(got.astype(np.float32) - expected))) if got.shape == expected.shape else float("inf")
        if not diff <= TOLERANCE[what]:
            notes.append(f"the exported graph differs from the float32 Keras graph by up to {diff:.3g} "
                         f"on {len(x)} patches (expected <= {TOLERANCE[what]:.3g})")
        unit = what != "denoiser" and bool(np.allclose(np.linalg.norm(expected, axis=-1), 1.0, atol=1e-3))
        result = ExportResult(out, out / ONNX_FILE if fmt == "onnx" else out, what, fmt, output,
                              tuple(int(s) for s in expected.shape[1:]), diff, len(x), unit, opset, notes)
        from hpdesc.atomic import write_text_atomic

        write_text_atomic(tmp / CARD, model_card(run_path, cfg, result, use_den, use_desc))
    for note in notes:
        reporter.log(f"warning: {note}")
    return result


__all__ = ["CARD", "FORMATS", "WHATS", "ExportError", "ExportResult", "atomic_folder", "check_format", "check_out",
           "check_patches", "check_what", "export_graph", "export_run", "exportable", "float32_model", "model_card",
           "require_exporters", "resolve_what", "run_onnx", "run_saved_model"]
