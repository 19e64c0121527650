"""`hpdesc benchmark`: HPatches verification / matching / retrieval, plus CSV export and import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, List, Optional

import typer
from typer.core import TyperGroup
from rich.markup import escape

from hpdesc.cli.common import RichReporter, console, err_console, handle_errors, print_wrote, quiet_import_keras

DATA, TASKS, OUTPUT = "Data", "Tasks", "Output"


class _BenchmarkGroup(TyperGroup):
    """Lets ``--compare A.h5 B.h5 C.h5`` take several values (click options take one each)."""

    def parse_args(self, ctx, args):
        out, collecting = [], False
        for a in args:
            if a == "--compare":
                collecting = True
                continue
            if collecting and not a.startswith("-") and a not in self.commands:
                out += ["--compare", a]
                continue
            collecting = False
            out.append(a)
        return super().parse_args(ctx, out)


def register(app: typer.Typer) -> None:
    bench = typer.Typer(cls=_BenchmarkGroup, invoke_without_command=True, no_args_is_help=False,
                        rich_markup_mode="rich", context_settings={"help_option_names": ["-h", "--help"]})

    @bench.callback()
    @handle_errors
    def _benchmark(
        ctx: typer.Context,
        descriptors: Annotated[Optional[Path], typer.Option("--descriptors", "-d", help="Descriptor file (hpdesc.descriptors).", rich_help_panel=DATA)] = None,
        run: Annotated[Optional[Path], typer.Option("--run", help="Describe the dataset with this training run first.", rich_help_panel=DATA)] = None,
        data: Annotated[Optional[Path], typer.Option("--data", help="Patch dataset (default: the one recorded in the descriptor file).", rich_help_panel=DATA)] = None,
        split: Annotated[Optional[str], typer.Option("--split", help="Split whose test sequences are evaluated (default: the descriptor file's, else 'a').", rich_help_panel=DATA)] = None,
        task: Annotated[Optional[List[str]], typer.Option("--task", help="verification | matching | retrieval (repeatable; default all three).", rich_help_panel=TASKS)] = None,
        protocol: Annotated[str, typer.Option("--protocol", help="python (reference Python evaluator) or paper (MATLAB / paper AP).", rich_help_panel=TASKS)] = "python",
        distance: Annotated[str, typer.Option("--distance", help="L2 or L1.", rich_help_panel=TASKS)] = "L2",
        tasks_dir: Annotated[Optional[Path], typer.Option("--tasks", help="Folder with official verif_*.csv / retr_*.csv task files.", rich_help_panel=TASKS)] = None,
        memory_mib: Annotated[Optional[float], typer.Option("--memory", min=0.001, metavar="MiB", help="Descriptors held in memory at once (default 1024 MiB); larger files are read in parts.", rich_help_panel=TASKS)] = None,
        no_cache: Annotated[bool, typer.Option("--no-cache", help="Recompute everything: neither read nor write cached results or parsed --tasks files.", rich_help_panel=TASKS)] = False,
        breakdown: Annotated[bool, typer.Option("--breakdown", help="Also print easy/hard/tough, intra/inter, i_/v_ and pool-size tables.", rich_help_panel=OUTPUT)] = False,
        json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the results as JSON.", rich_help_panel=OUTPUT)] = None,
        md_out: Annotated[Optional[Path], typer.Option("--markdown", help="Write the results as Markdown.", rich_help_panel=OUTPUT)] = None,
        compare: Annotated[Optional[List[Path]], typer.Option("--compare", help="Compare several descriptor files: --compare A.h5 B.h5 ...", rich_help_panel=OUTPUT)] = None,
        plot: Annotated[Optional[Path], typer.Option("--plot", help="Bar chart of the headline numbers (PNG).", rich_help_panel=OUTPUT)] = None,
    ) -> None:
        """Benchmark descriptors with the HPatches protocol (verification, matching, retrieval mAP).

        Prints the headline table (and its mean); every result names the dataset, split, protocol
        and distance. Subcommands: [bold]export-csv[/], [bold]import-csv[/], [bold]images[/] (image matching), [bold]denoise[/] (the denoising table).

        Example: hpdesc benchmark --descriptors runs/r1/desc.h5 --task retrieval --breakdown
        """
        if ctx.invoked_subcommand is not None:
            return
        from hpdesc import api
        from hpdesc.cli.render import print_results

        files = ([descriptors] if descriptors is not None else []) + list(compare or [])
        if run is not None or not files:
            quiet_import_keras()  # a model is loaded; scoring stored descriptors never needs Keras
        reporter = RichReporter()
        try:
            results = api.evaluate(files, run=run, data=data, split=split, tasks=task, protocol=protocol,
                                    distance=distance, tasks_dir=tasks_dir, cache=not no_cache,
                                    memory=None if memory_mib is None else int(memory_mib * 2**20),
                                    json=json_out, markdown=md_out, plot=plot, progress=reporter)
        finally:
            reporter.done()
        for r in results:
            for n in r.notes:
                err_console.print(f"[yellow]note:[/] {escape(n)}", highlight=False, soft_wrap=True)
        print_results(results, breakdown=breakdown)
        for target in (json_out, md_out, plot):
            if target is not None:
                print_wrote(target, stderr=True)

    @bench.command("export-csv")
    @handle_errors
    def _export(
        descriptors: Annotated[Path, typer.Argument(help="Descriptor file to export.")],
        out: Annotated[Path, typer.Argument(help="Output root: files go to OUT/NAME/<sequence>/<image>.csv.")],
        name: Annotated[Optional[str], typer.Option("--name", help="Descriptor name (default: the file's).")] = None,
        sequence: Annotated[Optional[List[str]], typer.Option("--sequence", help="Only these sequences (repeatable).")] = None,
    ) -> None:
        """Export descriptors to the hpatches-benchmark CSV layout (one row per patch).

        Example: hpdesc benchmark export-csv runs/r1/desc.h5 hpatches-benchmark/data/descriptors --name mynet
        """
        from hpdesc.atomic import check_writable
        from hpdesc.benchmark.csvio import export_csv

        check_writable(out)  # export_csv makes its folders directly
        root = export_csv(descriptors, out, name, sequence)
        console.print(f"exported {escape(str(descriptors))} to {escape(str(root))}")

    @bench.command("import-csv")
    @handle_errors
    def _import(
        src: Annotated[Path, typer.Argument(help="Folder of sequence folders with ref.csv ... t5.csv.")],
        data: Annotated[Path, typer.Option("--data", help="Patch dataset the CSVs describe.")],
        out: Annotated[Path, typer.Option("--out", "-o", help="Descriptor file to write.")],
        name: Annotated[Optional[str], typer.Option("--name", help="Descriptor name (default: the folder name).")] = None,
    ) -> None:
        """Import hpatches-benchmark descriptor CSVs (comma, semicolon or whitespace separated).

        Example: hpdesc benchmark import-csv descriptors/sift --data hpatches.h5 --out sift.h5
        """
        from hpdesc.benchmark.csvio import import_csv

        path = import_csv(src, data, out, name)
        print_wrote(path)

    from hpdesc.cli import benchmark_denoise, benchmark_images

    benchmark_images.register(bench)  # `hpdesc benchmark images`: image matching on sequence folders
    benchmark_denoise.register(bench)  # `hpdesc benchmark denoise`: the denoising table
    app.add_typer(bench, name="benchmark", help="Benchmark descriptors with the HPatches protocol.")
