"""`hpdesc export`: a run's trained models as a float32 ONNX file or TensorFlow SavedModel, with a model card."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from hpdesc.cli.common import RichReporter, console, handle_errors, print_wrote

MODEL, OUTPUT = "Model", "Output"


def _export(
    run: Annotated[Optional[Path], typer.Option("--run", help="Run directory; default: the latest run.", rich_help_panel=MODEL)] = None,
    what: Annotated[Optional[str], typer.Option("--what", help="descriptor, denoiser, or pipeline (denoiser -> uint8 -> descriptor in one graph; the default when the run has a descriptor, else denoiser).", rich_help_panel=MODEL)] = None,
    fmt: Annotated[str, typer.Option("--format", help="onnx (needs pip install \"hpdesc\\[export]\") or saved_model.", rich_help_panel=OUTPUT)] = "onnx",
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Export folder (model.onnx or the SavedModel, and MODEL.md); default RUN/export/<what>-<format>. An earlier export there is replaced.", rich_help_panel=OUTPUT)] = None,
) -> None:
    """Export a run's models as a float32 graph: input patches (B, 32, 32, 1) float32 in [0, 1], any batch.

    The folder also gets MODEL.md, the model card (components, training budget, benchmark table, input convention). See docs/deploying.md for onnxruntime, OpenCV DNN and plain Keras.

    Example: hpdesc export --run runs/latest-run --what pipeline --format onnx --out exported/
    """
    from hpdesc import api

    rep = RichReporter()
    try:
        res = api.export_run(run=run, what=what, format=fmt, out=out, progress=rep)
    finally:
        rep.done()
    console.print(f"{res.what} -> {escape(str(res.output))} {tuple(['B', *res.output_shape])}; exported graph vs float32 Keras: "
                  f"max |diff| {res.max_abs_diff:.2g} on {res.checked_patches} patches", soft_wrap=True)
    print_wrote(res.model_file)
    print_wrote(res.path / "MODEL.md")


def register(app: typer.Typer) -> None:
    app.command("export")(handle_errors(_export))
