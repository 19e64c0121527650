"""`hpdesc train`: train a denoiser and a descriptor, then benchmark them on the test split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.markup import escape

from hpdesc.cli.common import RichReporter, console, handle_errors

DATA, MODEL, TRAINING, OUTPUT = "Data", "Model", "Training", "Output"


def print_benchmark(bench: dict) -> None:
    """The end-of-run table: one row per descriptor, the three tasks and their mean (percent)."""
    from hpdesc.benchmark.report import TableRow, results_table
    from hpdesc.config import TASKS

    results = bench.get("results", {})
    psnr = bench.get("psnr") or {}
    if results:
        tasks = [t for t in TASKS if any(t in r.get("headline", {}) for r in results.values())]
        # the title on a line of its own: a one-task table is narrower than it and would wrap it
        console.print(f"HPatches benchmark, split {bench.get('split')!r} (test sequences), mAP %",
                      style="bold", highlight=False, soft_wrap=True)
        rows = []
        for name, r in results.items():
            vals = [r.get("headline", {}).get(t) for t in tasks]
            mean = sum(v for v in vals if v is not None) / max(1, sum(v is not None for v in vals))
            rows.append(TableRow([name], [*vals, mean], style="bold green" if name == bench.get("run") else None))
        console.print(results_table(["descriptor"], [*tasks, "mean"], rows, label_style="bold"))
    if psnr:
        console.print(f"PSNR on the test patches: noisy {psnr.get('noisy')} dB -> denoised {psnr.get('denoised')} dB")
    tables = bench.get("denoising") or {}
    if tables:  # the denoising table, in short: PSNR per level of the run's denoiser and the baselines
        levels = ("e", "h", "t", "mean")

        def line(label, rows, key):
            return f"  {label:<12} " + " / ".join(f"{rows[lv][key]:.2f}" if lv in rows else "-" for lv in levels)

        console.print("PSNR dB per level (e / h / t / mean):", highlight=False)
        first = next(iter(tables.values()))
        console.print(line("noisy", first, "psnr_noisy"), highlight=False)
        for name, rows in tables.items():
            console.print(line(name, rows, "psnr_denoised"), highlight=False)


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
