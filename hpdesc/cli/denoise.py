"""`hpdesc denoise`: denoise a dataset's noisy patches with a trained run or a denoiser by name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from hpdesc.cli.common import RichReporter, console, handle_errors, print_wrote

DATA, MODEL, OUTPUT = "Data", "Model", "Output"


def _denoise(
    run: Annotated[Optional[Path], typer.Option("--run", help="Run directory with a trained denoiser; default: the latest run.", rich_help_panel=MODEL)] = None,
    denoiser: Annotated[Optional[str], typer.Option("--denoiser", help="A registry denoiser instead of a run: nlmeans, median, gaussian, identity, a plugin's (bm3d).", rich_help_panel=MODEL)] = None,
    set_: Annotated[Optional[List[str]], typer.Option("--set", help="denoiser.PARAM=VALUE for a denoiser picked by name, e.g. denoiser.h=12 (repeatable).", rich_help_panel=MODEL)] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="hpdesc patch file; default: the embedded dataset.", rich_help_panel=DATA)] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Denoise only this split's test sequences (default: all).", rich_help_panel=DATA)] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file (HDF5, hpdesc.denoised, same index as the input).", rich_help_panel=OUTPUT)] = Path("denoised.h5"),
) -> None:
    """Denoise the noisy patches of a dataset; report PSNR before and after against the clean ones.

    Example: hpdesc denoise --run runs/latest-run --data hpatches.h5 --split a --out denoised.h5

    Example: hpdesc denoise --denoiser nlmeans --set denoiser.h=12 --out nlmeans.h5 (PSNR per level: hpdesc benchmark denoise)
    """
    from hpdesc import api

    rep = RichReporter()
    try:
        res = api.denoise(run=run, data=data, out=out, split=split, denoiser=denoiser, sets=set_ or (), progress=rep)
    finally:
        rep.done()
    psnr = res["psnr"]
    if psnr:
        console.print(f"PSNR vs clean: noisy {psnr['noisy']:.2f} dB -> denoised {psnr['denoised']:.2f} dB "
                      f"({psnr['denoised'] - psnr['noisy']:+.2f} dB)")
    print_wrote(res["path"])


def register(app: typer.Typer) -> None:
    app.command("denoise")(handle_errors(_denoise))
