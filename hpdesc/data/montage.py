"""PNG montages of a sequence's patches, so a user can look at the data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hpdesc.atomic import atomic_path, refuse_inputs
from hpdesc.data.images import IMAGES
from hpdesc.data.store import PatchDataset


def sequence_montage(ds: PatchDataset, sequence: str, out: str | os.PathLike, n_patches: int = 8) -> Path:
    """Write a PNG grid: one row per patch and image (clean above noisy), 16 image columns.

    Shape: the grid is ``2 * n_patches`` rows of 32 px by 16 columns of 32 px, with 2 px gaps.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(n_patches, ds.count(sequence))
    clean = ds.patches(sequence, kind="clean")[:n]
    noisy = ds.patches(sequence, kind="noisy")[:n]
    gap, side = 2, 32
    rows = 2 * n
    grid = np.full((rows * (side + gap), len(IMAGES) * (side + gap)), 255, np.uint8)
    for k in range(n):
        for j in range(len(IMAGES)):
            for r, arr in ((2 * k, clean), (2 * k + 1, noisy)):
                y, x = r * (side + gap), j * (side + gap)
                grid[y:y + side, x:x + side] = arr[k, j]
    fig, ax = plt.subplots(figsize=(len(IMAGES) * 0.6 + 1, rows * 0.6 + 1), dpi=100)
    ax.imshow(grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([j * (side + gap) + side / 2 for j in range(len(IMAGES))], IMAGES, fontsize=7)
    ax.set_yticks([r * (side + gap) + side / 2 for r in range(rows)],
                  [f"{k} {'clean' if r % 2 == 0 else 'noisy'}" for k in range(n) for r in (0, 1)], fontsize=6)
    ax.set_title(f"{sequence}: clean vs noisy patches across its 16 images", fontsize=9)
    fig.tight_layout()
    out = Path(out)
    refuse_inputs([out], [ds.path])
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return out
