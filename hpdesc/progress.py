"""The progress protocol every long job reports through (training, inference, benchmark).

The API passes a :class:`Reporter`; the CLI passes a rich implementation (``cli/common.py``).
It lives at the bottom layer so every package can report without importing another's internals.
"""

from __future__ import annotations


class Reporter:
    """Progress sink of the Python API (no-op); the CLI passes a rich implementation."""

    def start(self, description: str, total: int | None) -> None: ...

    def advance(self, n: int = 1, **fields) -> None: ...

    def done(self) -> None: ...

    def log(self, message: str) -> None: ...
