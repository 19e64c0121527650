"""`hpdesc match`: match two images (mutual nearest neighbours, a robust homography) and draw it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.markup import escape
from rich.table import Table

from hpdesc.cli.common import RichReporter, console, err_console, handle_errors, print_wrote

MODEL, DETECT, MATCH, OUTPUT = "Model", "Detection", "Matching", "Output"


def _match(
    image1: Annotated[Path, typer.Argument(help="First image.", show_default=False)],
    image2: Annotated[Path, typer.Argument(help="Second image.", show_default=False)],
    run: Annotated[Optional[Path], typer.Option("--run", help="Run directory whose denoiser + descriptor describe the keypoints.", rich_help_panel=MODEL)] = None,
    descriptor: Annotated[Optional[str], typer.Option("--descriptor", help="Descriptor by name instead of a run, e.g. sift or raw.", rich_help_panel=MODEL)] = None,
    denoiser: Annotated[Optional[str], typer.Option("--denoiser", help="Registry denoiser in front of --descriptor NAME (nlmeans, median, bm3d), on the whole image before detection.", rich_help_panel=MODEL)] = None,
    set_: Annotated[Optional[List[str]], typer.Option("--set", help="Parameter of --descriptor NAME or --denoiser NAME, e.g. descriptor.root=true, denoiser.h=12; repeatable.", rich_help_panel=MODEL)] = None,
    detector: Annotated[str, typer.Option("--detector", help="OpenCV keypoint detector: sift, orb, akaze.", rich_help_panel=DETECT)] = "sift",
    max_keypoints: Annotated[int, typer.Option("--max-keypoints", help="Keep the N strongest keypoints per image.", rich_help_panel=DETECT)] = 2048,
    noise: Annotated[Optional[str], typer.Option("--noise", help="Add hpdesc's noise at level e, h or t to both images first (seeded).", rich_help_panel=DETECT)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of --noise.", rich_help_panel=DETECT)] = 0,
    detect_on: Annotated[Optional[str], typer.Option("--detect-on", metavar="denoised|noisy", help="Where keypoints are detected when a denoiser runs on the whole image (default denoised).", rich_help_panel=DETECT)] = None,
    ratio: Annotated[Optional[float], typer.Option("--ratio", help="Also apply Lowe's ratio test (e.g. 0.8) to the mutual nearest neighbours.", rich_help_panel=MATCH)] = None,
    threshold: Annotated[float, typer.Option("--threshold", help="Inlier threshold (pixels) of the USAC/MAGSAC homography.", rich_help_panel=MATCH)] = 3.0,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="PNG: both images side by side, inliers green, other matches red.", rich_help_panel=OUTPUT)] = None,
    json_: Annotated[Optional[Path], typer.Option("--json", help="JSON with keypoints, matches, inlier mask and H.", rich_help_panel=OUTPUT)] = None,
    max_pixels: Annotated[Optional[int], typer.Option("--max-pixels", metavar="N", help="Pixel budget of an image (default 25000000; a larger one is refused from its header: whole-image work needs about 250 bytes per pixel).", rich_help_panel=DETECT)] = None,
) -> None:
    """Match two images: keypoints, mutual nearest neighbours, homography (OpenCV USAC/MAGSAC).

    Example: hpdesc match seqs/v_x/1.ppm seqs/v_x/4.ppm --run runs/<run> --out m.png
    """
    from hpdesc import api

    rep = RichReporter()
    try:
        res = api.match(image1, image2, run=run, descriptor=descriptor, detector=detector,
                        max_keypoints=max_keypoints, ratio=ratio, threshold=threshold, noise=noise, seed=seed,
                        sets=list(set_ or []), denoiser=denoiser, detect_on=detect_on, out=out, json=json_,
                        max_pixels=max_pixels, progress=rep)
    finally:
        rep.done()
    table = Table(title=f"match: {res['name']}", title_justify="left")
    for col in ("keypoints 1", "keypoints 2", "matches", "inliers"):
        table.add_column(col, justify="right")
    n1, n2 = res["keypoints"]
    share = f" ({res['inliers'] / res['matches']:.0%})" if res["matches"] else ""
    table.add_row(str(n1), str(n2), str(res["matches"]), f"{res['inliers']}{share}")
    console.print(table)
    for note in res["notes"]:
        err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    for path in (out, json_):
        if path is not None:
            print_wrote(path)


def register(app: typer.Typer) -> None:
    app.command("match")(handle_errors(_match))
