"""Shared pytest setup: quiet TensorFlow, an isolated cache, the --runslow switch, a JAX subprocess env.

Test tiers (README "Quick start"): ``python -m pytest -q -n 2`` runs the in-process suite;
tests marked ``multiproc`` (training in subprocesses: several workers, the JAX backend) are
deselected by ``addopts`` in pyproject.toml and run with ``-m multiproc``; tests marked ``slow``
(the README's quality claims, minutes each) need ``--runslow``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HPDESC_NO_PROGRESS", "1")

import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="run tests marked slow (long end-to-end quality checks)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _isolated_runs_root(tmp_path_factory):
    """The runs root of module- and session-scoped fixtures that train (set up before any test's own)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HPDESC_RUNS", str(tmp_path_factory.mktemp("session-runs-root")))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep every test's cache (embedded dataset, runs) out of the user's home."""
    home = tmp_path_factory.getbasetemp() / "hpdesc-home"
    monkeypatch.setenv("HPDESC_HOME", str(home))
    # a trained run updates `<runs root>/latest` wherever its --out is: never the checkout's ./runs
    monkeypatch.setenv("HPDESC_RUNS", str(tmp_path_factory.mktemp("runs-root")))


@pytest.fixture
def jax_env():
    """``jax_env(**extra)``: the environment that runs ``sys.executable`` on the JAX backend (CPU).

    The test extras install jax into this interpreter; without it the test is skipped. The
    subprocess imports the hpdesc under test (its checkout leads PYTHONPATH).
    """
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed (the test extras install it: pip install -e '.[test]')")
    import hpdesc

    root = str(Path(hpdesc.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)

    def env(**extra: str) -> dict[str, str]:
        return {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "HPDESC_NO_PROGRESS": "1",
                "PYTHONPATH": path, **extra}

    return env
