"""The benchmark package's shape: one table of tasks named as in the config, public APIs only."""

from __future__ import annotations

import ast
from pathlib import Path

from hpdesc.benchmark.evaluate import TASK_TABLE
from hpdesc.config import TASKS
from hpdesc.data.descfile import open_descriptors

BENCHMARK = Path(__file__).resolve().parents[2] / "hpdesc" / "benchmark"


def test_task_table_has_one_row_per_configured_task_in_order():
    assert tuple(TASK_TABLE) == TASKS


def test_benchmark_uses_no_private_attribute_of_another_object():
    """E.g. ``desc._pos``: descriptor and dataset files answer ``name in desc`` instead."""
    files = sorted(BENCHMARK.glob("*.py"))
    assert files
    found = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                found.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert not found


def test_descriptor_set_membership(tiny):
    with open_descriptors(tiny["descriptors"]) as desc:
        assert "i_beta" in desc and "v_eps" in desc
        assert "x_missing" not in desc and 3 not in desc
