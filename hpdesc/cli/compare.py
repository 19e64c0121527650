"""`hpdesc compare`: a table and learning-curve overlays of runs or a sweep (PNG + Markdown)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.markup import escape

from hpdesc.cli.common import console, handle_errors

OUTPUT = "Output"


def _compare(
    paths: Annotated[List[Path], typer.Argument(help="Run directories, folders of runs, or sweep directories.", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Report folder (default: SWEEP/report for one sweep, else ./compare).", rich_help_panel=OUTPUT)] = None,
    metric: Annotated[Optional[str], typer.Option("--metric", help="Best-run metric: total, verification, matching, retrieval, psnr, val_loss_denoiser, val_loss_descriptor (default: the sweep's, else total).", rich_help_panel=OUTPUT)] = None,
    sort: Annotated[bool, typer.Option("--sort", help="Order rows by the metric, best first.", rich_help_panel=OUTPUT)] = False,
    baselines: Annotated[bool, typer.Option("--baselines/--no-baselines", help="Add the baselines benchmarked with the runs (raw, sift) as rows.", rich_help_panel=OUTPUT)] = True,
    curves: Annotated[bool, typer.Option("--curves/--no-curves", help="Draw the learning-curve overlays (PNG).", rich_help_panel=OUTPUT)] = True,
) -> None:
    """Compare runs as the report does: verification, matching, retrieval and total mAP per run,
    the swept settings as columns, and train/validation loss overlays per axis.

    Writes OUT/report.md (embedding the figures), OUT/results.csv and OUT/curves_*.png. For plain
    run directories the columns are the config keys that differ between them.

    Example: hpdesc compare sweeps/fig-optimizers-descriptor --sort
    """
    from hpdesc.experiments.compare import compare, rich_table

    comp, written = compare(paths, out, metric=metric, baselines=baselines, curves=curves, sort=sort)
    console.print(rich_table(comp))
    for p in written["figures"]:
        console.print(f"figure: {escape(str(p))}", highlight=False)
    console.print(f"report: [bold]{escape(str(written['markdown']))}[/]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("compare")(handle_errors(_compare))
