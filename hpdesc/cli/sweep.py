"""`hpdesc sweep`: train every variant of a sweep file (grid or greedy), then write its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer
from rich.markup import escape

from hpdesc.cli.common import RichReporter, console, err_console, handle_errors

SWEEP, OUTPUT = "Sweep", "Output"


def _sweep(
    sweep_file: Annotated[Path, typer.Argument(help="Sweep TOML: \\[base] run config, \\[\\[axis]] key/values, mode, metric, out (docs/reproducing-the-report.md).", show_default=False)],
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Runs trained at once (each in its own `python -m hpdesc train` process).", rich_help_panel=SWEEP)] = 1,
    set_: Annotated[Optional[List[str]], typer.Option("--set", help="KEY=VALUE applied to \\[base], repeatable: e.g. data.path=nhpatches.h5, training.descriptor_epochs=20.", rich_help_panel=SWEEP)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate the file and list the runs; train nothing.", rich_help_panel=SWEEP)] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run again the runs that failed (e.g. diverged) last time.", rich_help_panel=SWEEP)] = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Sweep directory (default: the file's `out`, else sweeps/<file name>).", rich_help_panel=OUTPUT)] = None,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write the comparison (report.md, curves) into OUT/report when done.", rich_help_panel=OUTPUT)] = True,
) -> None:
    """Train a sweep: every combination (grid) or one axis at a time keeping the best value (greedy).

    Every expanded config is checked (keys, types, components) before the first run starts. Runs
    go to OUT/runs/<name>, named from their settings (e.g. dopt.lr-0.01); a run that is already
    complete is skipped and an interrupted one resumes, so rerunning the same command continues an
    interrupted sweep. OUT/sweep.json records every run's settings, status and scores.

    Example: hpdesc sweep examples/report/fig-optimizers-descriptor.toml --jobs 2
    """
    from hpdesc.experiments.sweep import Sweep, run_name
    from hpdesc.experiments.sweepfile import load_sweep

    spec = load_sweep(sweep_file, sets=list(set_ or []), out=out)
    total = spec.grid_size if spec.mode == "grid" else sum(len(a.values) for a in spec.axes) or 1
    console.print(f"[bold]{escape(str(spec.title or sweep_file))}[/]: {spec.mode}, {total} runs at most, metric "
                  f"{spec.metric}, into {escape(str(spec.out))}", highlight=False)
    if dry_run:
        if spec.mode == "grid" or not spec.axes:
            for choice in spec.grid():
                console.print(f"  {escape(run_name(spec, choice))}", highlight=False)
        else:
            for a, ax in enumerate(spec.axes):
                console.print(f"  step {a + 1}: {escape(ax.key)} in {escape(', '.join(ax.labels))}", highlight=False)
        console.print("the sweep file is valid; nothing was trained")
        return
    from hpdesc.experiments.sweep import inprocess_runner

    reporter = RichReporter()
    runner = inprocess_runner(reporter) if jobs == 1 else None
    sweep = Sweep(spec, jobs=jobs, runner=runner, retry_failed=retry_failed,
                  log=lambda m: err_console.print(m, highlight=False, markup=False, soft_wrap=True))
    try:
        sweep.run()
    except KeyboardInterrupt:
        reporter.done()
        err_console.print(f"interrupted; run the same command again to continue (finished runs are kept in {escape(str(spec.out))})")
        raise typer.Exit(130) from None
    finally:
        reporter.done()
    if report:
        from hpdesc.experiments.compare import compare, rich_table

        comp, written = compare([spec.out], Path(spec.out) / "report", metric=spec.metric)
        console.print(rich_table(comp))
        console.print(f"report: [bold]{escape(str(written['markdown']))}[/]", highlight=False)
    best = sweep.best()
    if best is not None:
        console.print(f"best by {spec.metric}: [bold]{escape(best.name)}[/] ({escape(str(best.path))})", highlight=False)
    failed = sweep.failed
    if failed:
        err_console.print(f"{len(failed)} run(s) did not finish: {escape(', '.join(it.name for it in failed))}",
                          highlight=False)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("sweep")(handle_errors(_sweep))
