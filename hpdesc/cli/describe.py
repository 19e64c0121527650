"""`hpdesc describe`: write descriptors of a dataset with a trained run or a baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer

from hpdesc.cli.common import RichReporter, handle_errors, print_wrote

DATA, MODEL, OUTPUT = "Data", "Model", "Output"


def _describe(
    run: Annotated[Optional[Path], typer.Option("--run", help="Run directory whose models describe (see `hpdesc train`).", rich_help_panel=MODEL)] = None,
    denoiser: Annotated[Optional[str], typer.Option("--denoiser", help="Denoiser by name instead of the run's (`identity`: none).", rich_help_panel=MODEL)] = None,
    descriptor: Annotated[Optional[str], typer.Option("--descriptor", help="Descriptor by name, e.g. raw or sift (no run needed).", rich_help_panel=MODEL)] = None,
    set_: Annotated[Optional[List[str]], typer.Option("--set", help="Parameter of a model picked by name (--denoiser / --descriptor), e.g. descriptor.root=true; repeatable.", rich_help_panel=MODEL)] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="hpdesc patch file; default: the embedded dataset.", rich_help_panel=DATA)] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Describe only this split's test sequences (default: all).", rich_help_panel=DATA)] = None,
    kind: Annotated[str, typer.Option("--input", help="Patches to describe: noisy or clean.", rich_help_panel=DATA)] = "noisy",
    out: Annotated[Path, typer.Option("--out", "-o", help="Output descriptor file (HDF5, hpdesc.descriptors).", rich_help_panel=OUTPUT)] = Path("descriptors.h5"),
) -> None:
    """Write descriptors (HDF5, aligned with the dataset's index, recording what made them).

    The patches go through the denoiser, then the descriptor. With --run both come from a
    trained run; --denoiser / --descriptor pick registry models by name (raw and sift need no run).

    Example: hpdesc describe --descriptor sift --data hpatches.h5 --split a --out sift.h5
    """
    from hpdesc import api

    rep = RichReporter()
    try:
        path = api.describe(run=run, data=data, out=out, denoiser=denoiser, descriptor=descriptor, split=split,
                            kind=kind, sets=list(set_ or []), progress=rep)
    finally:
        rep.done()
    print_wrote(path)


def register(app: typer.Typer) -> None:
    app.command("describe")(handle_errors(_describe))
