"""benchmark/report.py: the one results-table renderer (benchmark, training's table, run comparisons)."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from hpdesc.benchmark.evaluate import BenchmarkResult
from hpdesc.benchmark.report import TableRow, compare_table, headline_table, pct, results_table


def render(table, styles: bool = False) -> str:
    c = Console(record=True, width=200, force_terminal=True, color_system="standard", file=io.StringIO())
    c.print(table)
    return c.export_text(styles=styles)


def test_columns_values_and_the_best_in_bold_green():
    t = results_table(["name"], ["a", "b"], [TableRow(["x"], [0.5, None]), TableRow(["y"], [0.25, 0.1])],
                      best=[0.5, None])
    text = render(t)
    assert "name" in text and "50.00" in text and "25.00" in text and "10.00" in text
    assert [ln.split("│")[1].strip() for ln in text.splitlines() if ln.startswith("│")] == ["x", "y"]
    assert text.split("│ x")[1].splitlines()[0].split("│")[2].strip() == "-"  # None
    ansi = render(t, styles=True)
    assert "\x1b[1;32m50.00" in ansi and "\x1b[1;32m25.00" not in ansi and "\x1b[1;32m10.00" not in ansi


def test_labels_and_trailing_cells_are_verbatim_not_markup():
    """A setting like [relu] or an error text with brackets is shown as written (rich would eat it)."""
    t = results_table(["run", "act"], ["v"], [TableRow(["r1", "[relu]"], [0.1], ["failed: bad [x]"])],
                      after=["status"], fmt=[lambda v: f"{v:.3f}"])
    text = render(t)
    assert "[relu]" in text and "failed: bad [x]" in text and "0.100" in text


def test_title_is_never_wrapped_by_a_narrow_table():
    title = "A rather long table title (mAP %, best in bold)"
    text = render(results_table(["r"], ["v"], [TableRow(["a"], [0.5])], title=title))
    assert title in text.splitlines()[0]


def _res(path, head):
    return BenchmarkResult("toy", path, "data.h5", "a", "python", "L2", headline=head)


def test_headline_and_compare_tables():
    one = render(headline_table(_res("/x/a.h5", {"verification": 0.61, "retrieval": 0.7})))
    assert "Verification mAP" in one and "61.00" in one and "Mean" in one and pct(0.655) in one
    both = compare_table([_res("/x/a.h5", {"matching": 0.2}), _res("/x/b.h5", {"matching": 0.3})])
    text, ansi = render(both), render(both, styles=True)
    assert "toy [a]" in text and "toy [b]" in text and "Matching mAP %" in text
    assert "\x1b[1;32m30.00" in ansi and "\x1b[1;32m20.00" not in ansi


def test_run_comparison_shows_settings_verbatim():
    """experiments.compare.rich_table goes through results_table: a list-valued setting is shown."""
    from hpdesc.experiments.compare import rich_table
    from hpdesc.experiments.comparison import Comparison, Row

    comp = Comparison([Row("a", Path("a"), {"denoiser.acts": "[relu, tanh]"}, "finished", {"matching": 0.5}),
                       Row("b", Path("b"), {"denoiser.acts": "[elu]"}, "finished", {"matching": 0.7})],
                      ["denoiser.acts"], "matching")
    text = render(rich_table(comp))
    assert "[relu, tanh]" in text and "[elu]" in text and "70.00" in text
