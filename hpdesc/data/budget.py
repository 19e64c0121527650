"""The pixel budget: an image over it is refused from its header, before it is decoded.

Whole-image work (``features``, ``match``, ``benchmark images``, importing image sequences) holds
several float copies of an image, a pyramid and the patches cut from it: about 250 bytes of memory
per pixel at peak, so an 8000 x 8000 image needed 15.6 GB. :func:`check_pixels` reads only the
file's header (PPM / PGM directly, other formats through Pillow's lazy ``Image.open``) and
raises a :class:`~hpdesc.errors.UsageError` naming the image, its size and the budget.

The budget is :data:`DEFAULT_MAX_PIXELS` (25 megapixels: a 24-megapixel camera image passes),
``$HPDESC_MAX_PIXELS``, or ``--max-pixels N`` / ``max_pixels=N`` (:func:`pixel_budget`), in
that order of precedence from last to first.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from pathlib import Path
from typing import Iterator

from hpdesc.errors import UsageError

DEFAULT_MAX_PIXELS = 25_000_000
_BUDGET: contextvars.ContextVar[int | None] = contextvars.ContextVar("hpdesc_max_pixels", default=None)


def max_pixels() -> int:
    """The budget in force: :func:`pixel_budget`'s, else ``$HPDESC_MAX_PIXELS``, else the default."""
    given = _BUDGET.get()
    if given is not None:
        return given
    env = os.environ.get("HPDESC_MAX_PIXELS")
    if env:
        return check_budget(env, "HPDESC_MAX_PIXELS")
    return DEFAULT_MAX_PIXELS


def check_budget(value, name: str = "--max-pixels") -> int:
    """``value`` as a positive whole number of pixels, else a UsageError naming ``name``."""
    try:
        n = int(float(value)) if not isinstance(value, int) else value
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"{name} must be a positive whole number of pixels, got {value!r}") from None
    if n < 1 or (not isinstance(value, int) and float(value) != n):
        raise UsageError(f"{name} must be a positive whole number of pixels, got {value!r}")
    return n


@contextlib.contextmanager
def pixel_budget(n: int | None) -> Iterator[None]:
    """Images read in the block may have up to ``n`` pixels (None: keep the budget in force)."""
    if n is None:
        yield
        return
    token = _BUDGET.set(check_budget(n))
    try:
        yield
    finally:
        _BUDGET.reset(token)


def _pnm_size(path: Path) -> tuple[int, int] | None:
    with open(path, "rb") as fh:
        head = fh.read(256)
    tokens: list[bytes] = []
    for line in head.split(b"\n"):
        tokens += line.split(b"#", 1)[0].split()
        if len(tokens) >= 3:
            break
    if len(tokens) >= 3 and tokens[0] in (b"P5", b"P6", b"P2", b"P3"):
        try:
            return int(tokens[2]), int(tokens[1])
        except ValueError:
            return None
    return None


def header_size(path) -> tuple[int, int] | None:
    """``(H, W)`` from the image file's header without decoding its pixels; None when unknown."""
    path = Path(path)
    try:
        if path.suffix.lower() in (".ppm", ".pgm", ".pnm"):
            return _pnm_size(path)
        from PIL import Image  # matplotlib's dependency; opening reads the header only

        Image.MAX_IMAGE_PIXELS = None  # our budget decides, not Pillow's bomb warning
        with Image.open(path) as im:
            w, h = im.size
        return int(h), int(w)
    except Exception:  # noqa: BLE001 - unknown format or no Pillow: the decoder reports it
        return None


def check_pixels(path, size: tuple[int, int] | None = None) -> None:
    """Refuse an image over the budget (its ``size`` or its header's), before decoding it."""
    size = size if size is not None else header_size(path)
    if size is None:
        return
    h, w = size
    budget = max_pixels()
    if h * w > budget:
        raise UsageError(f"{path}: {w}x{h} image ({h * w / 1e6:.1f} megapixels) is over the pixel budget of "
                         f"{budget} pixels (whole-image work needs about 250 bytes of memory per pixel)",
                         hint=f"raise it with --max-pixels {h * w} (or HPDESC_MAX_PIXELS), or downscale the image")


def applies_max_pixels(fn):
    """Decorate an API function with a ``max_pixels`` keyword: its images are read under that budget."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with pixel_budget(kwargs.get("max_pixels")):
            return fn(*args, **kwargs)

    return wrapper
