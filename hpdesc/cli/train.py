"""`hpdesc train`: train a denoiser and a descriptor, then benchmark them on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.markup import escape

from hpdesc.cli.common import RichReporter, console, handle_errors

DATA, MODEL, TRAINING, OUTPUT = "Data", "Model", "Training", "Output"


def print_benchmark(bench) -> None:
    """The end-of-run tables (a :class:`~hpdesc.benchmark.runbench.RunBenchmark`), printed as
    ``hpdesc benchmark`` and ``hpdesc benchmark denoise`` print theirs; then the one-number PSNR,
    which is the denoising table's mean row."""
    from hpdesc.cli.render import print_denoising, print_results

    if bench.results:
        print_results(bench.results)
    if bench.denoising:
        print_denoising(bench.denoising)
    psnr = bench.psnr
    if psnr:
        console.print(f"PSNR on the test patches (e, h, t images): noisy {psnr['noisy']:.2f} dB -> "
                      f"denoised {psnr['denoised']:.2f} dB", highlight=False)


def _train(
    denoiser: Annotated[Optional[str], typer.Option("--denoiser", help="Denoiser name (see `hpdesc plugins`); `identity` = none.", rich_help_panel=MODEL)] = None,
    descriptor: Annotated[Optional[str], typer.Option("--descriptor", help="Descriptor name; leave out (with --denoiser) or `none` to train a denoiser alone.", rich_help_panel=MODEL)] = None,
    skip_denoiser: Annotated[bool, typer.Option("--skip-denoiser", help="Train the descriptor alone (same as --denoiser identity).", rich_help_panel=MODEL)] = False,
    denoiser_loss: Annotated[Optional[str], typer.Option("--denoiser-loss", help="Denoiser loss (mse, mae, ...).", rich_help_panel=MODEL)] = None,
    descriptor_loss: Annotated[Optional[str], typer.Option("--descriptor-loss", help="Descriptor loss (hardnet, triplet, ...).", rich_help_panel=MODEL)] = None,
    denoiser_optimizer: Annotated[Optional[str], typer.Option("--denoiser-optimizer", help="Denoiser optimizer (adam, sgd, ...).", rich_help_panel=MODEL)] = None,
    descriptor_optimizer: Annotated[Optional[str], typer.Option("--descriptor-optimizer", help="Descriptor optimizer.", rich_help_panel=MODEL)] = None,
    data: Annotated[Optional[Path], typer.Option("--data", help="hpdesc patch file; default: the embedded dataset.", rich_help_panel=DATA)] = None,
    split: Annotated[Optional[str], typer.Option("--split", help="Split whose train sequences train and whose test sequences are benchmarked.", rich_help_panel=DATA)] = None,
    descriptor_input: Annotated[Optional[str], typer.Option("--descriptor-input", help="What the descriptor trains on: denoised, clean or noisy.", rich_help_panel=DATA)] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Epochs of both stages (training.denoiser_epochs / descriptor_epochs).", rich_help_panel=TRAINING)] = None,
    batch_size: Annotated[Optional[int], typer.Option("--batch-size", help="Batch size of both stages.", rich_help_panel=TRAINING)] = None,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Seed of sampling and initialisation.", rich_help_panel=TRAINING)] = None,
    precision: Annotated[Optional[str], typer.Option("--precision", help="float32 or mixed (bfloat16 compute).", rich_help_panel=TRAINING)] = None,
    distribute: Annotated[Optional[str], typer.Option("--distribute", help="Data-parallel training: none, mirrored (local GPUs) or multi-worker (TF_CONFIG / KERAS_DISTRIBUTION_*); batch sizes are global. See docs/scaling.md.", rich_help_panel=TRAINING)] = None,
    init: Annotated[Optional[str], typer.Option("--init", help="Initial weights: a run directory, a .keras file or a PyTorch HardNet checkpoint (.pth, needs pip install \"hpdesc\\[interop]\"); see docs/interop.md.", rich_help_panel=TRAINING)] = None,
    set_: Annotated[Optional[List[str]], typer.Option("--set", help="KEY=VALUE, repeatable: e.g. denoiser.depth=10, descriptor_optimizer.learning_rate=0.1, training.descriptor_epochs=20.", rich_help_panel=TRAINING)] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="TOML config file (a run's config.toml reproduces it).", rich_help_panel=TRAINING)] = None,
    resume: Annotated[Optional[Path], typer.Option("--resume", help="Continue an interrupted run directory.", rich_help_panel=TRAINING)] = None,
    max_epochs: Annotated[Optional[int], typer.Option("--max-epochs-this-session", hidden=True, help="Stop cleanly after N epochs (resumable).", rich_help_panel=TRAINING)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run directory; default: runs/<timestamp>-<denoiser>-<descriptor>.", rich_help_panel=OUTPUT)] = None,
) -> None:
    """Train the denoiser (noisy -> clean), then the descriptor on denoised patches, then benchmark.

    Triplets come from the training sequences (anchor and positive: the same patch in two images;
    negative: another patch); validation uses held-out training sequences (3:1 for the denoiser,
    10:1 for the descriptor). The run directory gets the resolved config.toml, the .keras models,
    history CSVs, learning curves, TensorBoard logs, checkpoints and benchmark.json. Every setting
    is a config key: defaults < --config < flags < --set (see docs/training.md); a --set parameter
    applies to the component the flags pick.

    Example: hpdesc train --denoiser unet --descriptor hardnet --epochs 10 --set denoiser.activation=leaky_relu --set denoiser.alpha=0.2
    """
    from hpdesc import api

    reporter = RichReporter()
    try:
        result = api.train(
            config, sets=list(set_ or []), out=out, resume=resume, progress=reporter,
            max_epochs_this_session=max_epochs, denoiser=denoiser, descriptor=descriptor,
            skip_denoiser=skip_denoiser, denoiser_loss=denoiser_loss, descriptor_loss=descriptor_loss,
            denoiser_optimizer=denoiser_optimizer, descriptor_optimizer=descriptor_optimizer,
            data=data, split=split, descriptor_input=descriptor_input, epochs=epochs,
            batch_size=batch_size, seed=seed, precision=precision, distribute=distribute, init=init)
    finally:
        reporter.done()
    if not result.finished:
        console.print(f"run [bold]{escape(str(result.run_dir))}[/] stopped early; continue with "
                      f"[bold]hpdesc train --resume {result.run_dir}[/]")
        return
    if result.benchmark:
        print_benchmark(result.benchmark)
    if result.timings:
        console.print("time per phase (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items()),
                      highlight=False)
    console.print(f"run directory: [bold]{escape(str(result.run_dir))}[/]")


def register(app: typer.Typer) -> None:
    app.command("train")(handle_errors(_train))
