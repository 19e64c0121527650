"""`hpdesc features`: keypoint features of images, one D2-Net .npz file per image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from hpdesc.cli.common import RichReporter, console, err_console, handle_errors

MODEL, DETECT, OUTPUT = "Model", "Detection", "Output"


def _features(
    images: Annotated[List[Path], typer.Argument(help="Image files (8/16-bit, grey, RGB or RGBA).", show_default=False)],
    run: Annotated[Optional[Path], typer.Option("--run", help="Run directory whose denoiser + descriptor describe the keypoints.", rich_help_panel=MODEL)] = None,
    descriptor: Annotated[Optional[str], typer.Option("--descriptor", help="Descriptor by name instead of a run, e.g. sift or raw.", rich_help_panel=MODEL)] = None,
    denoiser: Annotated[Optional[str], typer.Option("--denoiser", help="Registry denoiser in front of --descriptor NAME (nlmeans, median, bm3d), on the whole image before detection.", rich_help_panel=MODEL)] = None,
    set_: Annotated[Optional[List[str]], typer.Option("--set", help="Parameter of --descriptor NAME or --denoiser NAME, e.g. descriptor.root=true, denoiser.h=12; repeatable.", rich_help_panel=MODEL)] = None,
    detector: Annotated[str, typer.Option("--detector", help="OpenCV keypoint detector: sift, orb, akaze.", rich_help_panel=DETECT)] = "sift",
    max_keypoints: Annotated[int, typer.Option("--max-keypoints", help="Keep the N strongest keypoints (by detector response).", rich_help_panel=DETECT)] = 2048,
    noise: Annotated[Optional[str], typer.Option("--noise", help="Add hpdesc's noise at level e, h or t to each image first (seeded).", rich_help_panel=DETECT)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of --noise.", rich_help_panel=DETECT)] = 0,
    detect_on: Annotated[Optional[str], typer.Option("--detect-on", metavar="denoised|noisy", help="Where keypoints are detected when a denoiser runs on the whole image (default denoised).", rich_help_panel=DETECT)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the feature files (default: beside each image).", rich_help_panel=OUTPUT)] = None,
    max_pixels: Annotated[Optional[int], typer.Option("--max-pixels", metavar="N", help="Pixel budget of an image (default 25000000; a larger one is refused from its header: whole-image work needs about 250 bytes per pixel).", rich_help_panel=DETECT)] = None,
) -> None:
    """Detect keypoints, describe them, and write `<image>.<method>` feature files (.npz).

    Each file holds keypoints (N x 2, x right, y down, pixels), scores (N) and descriptors
    (N x D): the format of the D2-Net HPatches-sequences tooling (docs/matching.md).

    Example: hpdesc features seqs/v_x/1.ppm seqs/v_x/2.ppm --run runs/<run>
    """
    from hpdesc import api

    rep = RichReporter()
    try:
        res = api.features(images, run=run, descriptor=descriptor, detector=detector, max_keypoints=max_keypoints,
                           out=out, noise=noise, seed=seed, sets=list(set_ or []), max_pixels=max_pixels,
                           denoiser=denoiser, detect_on=detect_on, progress=rep)
    finally:
        rep.done()
    table = Table(title=f"features: {res['name']}", title_justify="left")
    table.add_column("image")
    table.add_column("keypoints", justify="right")
    table.add_column("dim", justify="right")
    table.add_column("file")
    for row in res["files"]:
        table.add_row(str(row["image"]), str(row["keypoints"]), str(row["dim"]), str(row["path"]))
    console.print(table)
    for note in res["notes"]:
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("features")(handle_errors(_features))
