"""Shared pytest setup: quiet TensorFlow, an isolated cache, and the --runslow switch."""

from __future__ import annotations

import os

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


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Keep every test's cache (embedded dataset, runs) out of the user's home."""
    home = tmp_path_factory.getbasetemp() / "hpdesc-home"
    monkeypatch.setenv("HPDESC_HOME", str(home))
