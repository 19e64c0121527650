"""`hpdesc benchmark denoise`: the denoising table (PSNR / SSIM vs clean per noise level) of denoisers and runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from hpdesc.cli.common import RichReporter, handle_errors, print_wrote, quiet_import_keras

DATA, MODEL, OUTPUT = "Data", "Model", "Output"


def _split_targets(compare: list[str]) -> tuple[list[str], list[Path]]:
    """``--compare`` items: a directory is a run, anything else a denoiser name."""
    names, runs = [], []
    for item in compare:
        (runs.append(Path(item)) if Path(item).is_dir() else names.append(item))
    return names, runs


def _denoise_table(
    denoiser: Annotated[Optional[List[str]], typer.Option("--denoiser", help="A registry denoiser by name, e.g. nlmeans, median, gaussian, identity (repeatable).", rich_help_panel=MODEL)] = None,
    run: Annotated[Optional[List[Path]], typer.Option("--run", help="A training run whose denoiser is scored (repeatable); default with no --denoiser: the latest run.", rich_help_panel=MODEL)] = None,
    compare: Annotated[Optional[List[str]], typer.Option("--compare", help="Several denoisers and/or run directories in one table: --compare nlmeans median runs/r1 ...", rich_help_panel=MODEL)] = None,
    set_: Annotated[Optional[List[str]], typer.Option("--set", help="NAME.PARAM=VALUE for a named denoiser (denoiser.PARAM=VALUE with one), e.g. nlmeans.h=12.", rich_help_panel=MODEL)] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="Patch dataset (default: the run's, else the embedded one).", rich_help_panel=DATA)] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Score this split's test sequences (default: the run's split, else the dataset's first).", rich_help_panel=DATA)] = None,
    no_ssim: Annotated[bool, typer.Option("--no-ssim", help="PSNR only (SSIM costs a skimage call per patch).", rich_help_panel=OUTPUT)] = False,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the table as JSON.", rich_help_panel=OUTPUT)] = None,
    md_out: Annotated[Optional[Path], typer.Option("--markdown", help="Write the table as Markdown.", rich_help_panel=OUTPUT)] = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Bar chart of PSNR per level (PNG).", rich_help_panel=OUTPUT)] = None,
) -> None:
    """Denoising table: PSNR and SSIM of noisy and denoised patches vs clean, per noise level (e, h, t), i_/v_ and mean.

    Example: hpdesc benchmark denoise --compare identity median nlmeans runs/latest-run --plot psnr.png
    """
    from hpdesc import api
    from hpdesc.cli.render import print_denoising

    names, runs = _split_targets(list(compare or []))
    quiet_import_keras()
    rep = RichReporter()
    try:
        results = api.evaluate_denoising(list(denoiser or []) + names, list(run or []) + runs, data=data,
                                        split=split, sets=set_ or (), ssim=not no_ssim, json=json_out,
                                        markdown=md_out, plot=plot, progress=rep)
    finally:
        rep.done()
    print_denoising(results)
    for target in (json_out, md_out, plot):
        if target is not None:
            print_wrote(target, stderr=True)


def register(bench: typer.Typer) -> None:
    """Add ``denoise`` to the ``hpdesc benchmark`` group."""
    bench.command("denoise")(handle_errors(_denoise_table))
