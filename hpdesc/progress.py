"""The progress protocol every long job reports through (training, inference, benchmark).

The API passes a :class:`Reporter`; the CLI passes a rich implementation (``cli/common.py``).
It lives at the bottom layer so every package can report without importing another's internals.
"""

from __future__ import annotations

from typing import Callable


class Reporter:
    """Progress sink of the Python API (no-op); the CLI passes a rich implementation."""

    def start(self, description: str, total: int | None) -> None: ...

    def advance(self, n: int = 1, **fields) -> None: ...

    def done(self) -> None: ...

    def log(self, message: str) -> None: ...


def steps(reporter: Reporter, description: str) -> Callable[[int, int], None]:
    """The data layer's ``progress(done, total)`` callback, drawn on ``reporter``.

    The first call starts one bar with its ``total``; each call advances it by what was done
    since the last. (The data layer counts; everything above it reports through a Reporter.)
    """
    state = {"done": 0, "started": False}

    def update(done: int, total: int) -> None:
        if not state["started"]:
            reporter.start(description, total)
            state["started"] = True
        if done > state["done"]:
            reporter.advance(done - state["done"])
            state["done"] = done

    return update
