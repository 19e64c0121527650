"""Commands that only read stored files never import the ML stack (Keras / TensorFlow / JAX):
scoring stored descriptors, CSV export/import and comparing finished runs are numpy/h5py work,
and importing TensorFlow costs seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hpdesc.benchmark.tasks import load_tasks, write_task_csvs
from hpdesc.data.store import open_dataset
from tests.experiments.test_compare import SCORES, fake_run

ROOT = Path(__file__).resolve().parents[2]
DRIVER = r"""
import json, sys
from hpdesc.cli.main import main
codes = []
for argv in json.loads(sys.argv[1]):
    sys.argv = ["hpdesc"] + argv
    try:
        main()
        codes.append(0)
    except SystemExit as exc:
        codes.append(exc.code or 0)
ml = sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules)
print("RESULT " + json.dumps({"codes": codes, "ml": ml}))
"""


def test_benchmark_csv_and_compare_do_not_import_keras(tiny, tmp_path):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    with open_dataset(tiny["dataset"]) as ds:
        write_task_csvs(load_tasks(ds, "a"), tasks)
    for name, scores in SCORES.items():
        fake_run(tmp_path / "runs" / name, name.split("-")[1], scores)
    d, ds = str(tiny["descriptors"]), str(tiny["dataset"])
    commands = [
        ["benchmark", "--descriptors", d, "--data", ds, "--split", "a", "--tasks", str(tasks), "--no-cache"],
        ["benchmark", "--descriptors", d, "--data", ds, "--split", "a", "--json", str(tmp_path / "r.json")],
        ["benchmark", "export-csv", d, str(tmp_path / "csv"), "--name", "toy"],
        ["benchmark", "import-csv", str(tmp_path / "csv" / "toy"), "--data", ds, "--out", str(tmp_path / "back.h5")],
        ["compare", str(tmp_path / "runs"), "--out", str(tmp_path / "cmp"), "--no-curves"],
    ]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               HPDESC_CACHE_DIR=str(tmp_path / "cache"), HPDESC_NO_PROGRESS="1")
    proc = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], capture_output=True, text=True,
                          env=env, cwd=str(tmp_path), timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stdout + proc.stderr
    res = json.loads(lines[-1][7:])
    assert res["codes"] == [0] * len(commands), proc.stdout + proc.stderr
    assert res["ml"] == [], f"imported {res['ml']}"
