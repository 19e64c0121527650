"""The 16 images of an HPatches sequence and how task files number them."""

from __future__ import annotations

LEVELS = ("e", "h", "t")
"""Geometric-jitter levels: easy, hard, tough."""

IMAGES = ("ref",) + tuple(f"{lvl}{i}" for lvl in LEVELS for i in range(1, 6))
"""Image names in storage order: ref, e1..e5, h1..h5, t1..t5 (axis 1 of patch arrays)."""

IMAGE_INDEX = {name: i for i, name in enumerate(IMAGES)}


def image_index(level: str, t: int) -> int:
    """Storage index of task-file image id ``t`` (0 = ref, 1..5) at jitter ``level``."""
    if t == 0:
        return 0
    return IMAGE_INDEX[f"{level}{t}"]
