"""The one way results are printed: HPatches results and denoising tables (``hpdesc benchmark``,
``hpdesc benchmark denoise`` and the end of ``hpdesc train`` all call these)."""

from __future__ import annotations

from typing import Sequence

from rich.markup import escape
from rich.text import Text

from hpdesc.cli.common import console


def print_results(results: Sequence, breakdown: bool = False) -> None:
    """Title, the headline table (one result) or the comparison table (several), context lines, breakdowns."""
    from hpdesc.benchmark import report

    results = list(results)
    # title and context on lines of their own: a narrow table would squeeze them to its width
    console.print(Text(report.title(results), style="bold"), soft_wrap=True)
    console.print(report.headline_table(results[0]) if len(results) == 1 else report.compare_table(results))
    for line in report.context_lines(results):
        console.print(Text(line, style="dim"), soft_wrap=True)
    if breakdown:
        for r in results:
            for t in report.breakdown_tables(r):
                console.print(t)


def print_denoising(results: Sequence) -> None:
    """The denoising table: per level, the noisy input and each denoiser (PSNR and SSIM vs clean)."""
    from rich.table import Table

    from hpdesc.benchmark.denoising import table_rows

    results = list(results)
    header, rows = table_rows(results)
    table = Table(title="Denoising vs clean (PSNR over all pixels; SSIM: skimage, mean over patches; "
                        "mean: the e, h, t images)")
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i < 2 else "right")
    last = None
    for r in rows:
        if last is not None and r[0] != last:
            table.add_section()
        last = r[0]
        table.add_row(*r, style="dim" if r[1] == "noisy input" else None)
    console.print(table)
    first = results[0]
    console.print(f"[dim]dataset {escape(str(first.dataset))} | split {escape(str(first.split))}[/]",
                  soft_wrap=True, highlight=False)


__all__ = ["print_denoising", "print_results"]
