"""`hpdesc benchmark images`: image matching (MMA, homography accuracy) on HPatches sequences."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.markup import escape

from hpdesc.cli.common import RichReporter, console, err_console, handle_errors, print_wrote, quiet_import_keras

METHODS, FEATURES, OUTPUT = "Methods", "Features computed here", "Output"


def register(bench: typer.Typer) -> None:
    """Add the ``images`` subcommand to the ``hpdesc benchmark`` group."""

    @bench.command("images")
    @handle_errors
    def _images(
        seq_dir: Annotated[Path, typer.Argument(help="hpatches-sequences-release folder (or `hpdesc data synth --sequences DIR`).")],
        features: Annotated[Optional[List[str]], typer.Option("--features", metavar="METHOD", help="Precomputed feature files <image>.<METHOD> beside the images (D2-Net .npz; repeatable).", rich_help_panel=METHODS)] = None,
        run: Annotated[Optional[List[Path]], typer.Option("--run", metavar="RUN", help="Training run whose denoiser + descriptor describe keypoint patches (repeatable).", rich_help_panel=METHODS)] = None,
        descriptor: Annotated[Optional[List[str]], typer.Option("--descriptor", metavar="NAME", help="Registered descriptor (sift, raw, plugins; repeatable).", rich_help_panel=METHODS)] = None,
        denoiser: Annotated[Optional[List[str]], typer.Option("--denoiser", metavar="NAME", help="Registry denoiser (nlmeans, median, bm3d, none) in front of each --descriptor, on the whole image before detection (repeatable: one row per denoiser and descriptor; parameters --set denoiser.P=V).", rich_help_panel=METHODS)] = None,
        compare: Annotated[Optional[List[str]], typer.Option("--compare", metavar="M...", help="More methods: --compare A B ...; each an existing folder (a run), a name with feature files in the first sequence, or else a descriptor name.", rich_help_panel=METHODS)] = None,
        detector: Annotated[Optional[str], typer.Option("--detector", metavar="NAME", help="OpenCV keypoint detector for --run/--descriptor (default sift).", rich_help_panel=FEATURES)] = None,
        max_keypoints: Annotated[Optional[int], typer.Option("--max-keypoints", metavar="N", help="Keep the N strongest keypoints per image (default 2048).", rich_help_panel=FEATURES)] = None,
        noise: Annotated[Optional[str], typer.Option("--noise", metavar="none|e|h|t", help="Add this noise level to the whole images before detection (not for --features).", rich_help_panel=FEATURES)] = None,
        sets: Annotated[Optional[List[str]], typer.Option("--set", metavar="KEY=VALUE", help="Component parameter for features computed here (repeatable).", rich_help_panel=FEATURES)] = None,
        seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of the added noise (default 0).", rich_help_panel=FEATURES)] = None,
        detect_on: Annotated[Optional[str], typer.Option("--detect-on", metavar="denoised|noisy", help="Where keypoints are detected when a denoiser runs on the whole image (default denoised).", rich_help_panel=FEATURES)] = None,
        d2net_subset: Annotated[bool, typer.Option("--d2net-subset", help="Leave out the 8 sequences with images over 1600x1200, as D2-Net does.", rich_help_panel=OUTPUT)] = False,
        json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the results as JSON.", rich_help_panel=OUTPUT)] = None,
        plot: Annotated[Optional[Path], typer.Option("--plot", help="PNG of the MMA and correct-matches curves (illumination, viewpoint, overall).", rich_help_panel=OUTPUT)] = None,
        max_pixels: Annotated[Optional[int], typer.Option("--max-pixels", metavar="N", help="Pixel budget of an image (default 25000000; a larger one is refused from its header: whole-image work needs about 250 bytes per pixel).", rich_help_panel=FEATURES)] = None,
    ) -> None:
        """Image matching on HPatches sequences: MMA at 1..10 px (i_, v_, overall) and homography accuracy.

        For each sequence, image 1 against images 2..6: mutual nearest-neighbour matches, MMA with
        the ground-truth H_1_k (D2-Net protocol), and the corner error of an H estimated with
        OpenCV's USAC/MAGSAC (SuperPoint protocol). Put SEQ_DIR before --compare.

        Example: hpdesc benchmark images seqs --descriptor sift --compare runs/r1 --plot mma.png

        Example: hpdesc benchmark images seqs --denoiser none --denoiser nlmeans --descriptor sift --noise t
        """
        from rich.text import Text

        from hpdesc import api
        from hpdesc.matching import report

        _feats, runs, descs = api.image_methods(seq_dir, features=features or (), run=run or (),
                                                descriptor=descriptor or (), compare=compare or ())
        if runs or descs:
            quiet_import_keras()  # models are built; scoring feature files never needs Keras
        reporter = RichReporter()
        try:
            results = api.benchmark_images(seq_dir, features=features or (), run=run or (), descriptor=descriptor or (),
                                           compare=compare or (), detector=detector, max_keypoints=max_keypoints,
                                           noise=noise, sets=sets or (), seed=seed, d2net_subset=d2net_subset, json=json_out, plot=plot,
                                           max_pixels=max_pixels, denoiser=denoiser or (), detect_on=detect_on,
                                           progress=reporter)
        finally:
            reporter.done()
        for r in results:
            for n in r.notes:
                err_console.print(f"[yellow]note:[/] {escape(r.method)}: {escape(n)}", highlight=False, soft_wrap=True, markup=True)
        console.print(report.results_table(results))
        console.print(report.homography_table(results))
        console.print(report.timing_table(results))
        for line in report.context_lines(results):
            console.print(Text(line, style="dim"), soft_wrap=True)
        for target in (json_out, plot):
            if target is not None:
                print_wrote(target, stderr=True)
