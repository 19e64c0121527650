"""A tiny structured patch dataset and tiny training settings shared by the training tests."""

from __future__ import annotations

import numpy as np

TINY = [
    "denoiser.depth=3", "denoiser.filters=8", "descriptor.filters=4", "descriptor.dim=16",
    "training.denoiser_samples_per_epoch=64", "training.denoiser_batch_size=16",
    "training.descriptor_triplets_per_epoch=64", "training.descriptor_batch_size=16",
    "training.denoiser_val_samples=32", "training.descriptor_val_triplets=32", "training.denoise_pool=256",
    "training.prefetch=2", "benchmark.baselines=['raw']", "data.descriptor_val_ratio='3:1'",
    # float32: the default mixed (bfloat16) precision is for speed on real budgets; equivalence and
    # resume tests compare losses to 2e-3, which bfloat16 rounding does not meet
    "training.precision=float32",
]


def tiny_sets(*, denoiser: bool = True, descriptor: bool = True) -> list[str]:
    """TINY without the model parameters of a slot the caller replaces (they would be refused)."""
    return [s for s in TINY if (denoiser or not s.startswith("denoiser."))
            and (descriptor or not s.startswith("descriptor."))]


def make_tiny_dataset(path, n_seq: int = 6, n_patches: int = 12, seed: int = 0):
    """Smooth random textures per patch, small per-image shifts, Gaussian noise; split 'default'."""
    from hpdesc.data.store import DatasetWriter

    rng = np.random.default_rng(seed)
    names = [f"{'iv'[i % 2]}_tiny{i}" for i in range(n_seq)]
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    with DatasetWriter(path, names, [n_patches] * n_seq, {"source": "tiny test set", "seed": seed}) as w:
        for name in names:
            clean = np.empty((n_patches, 16, 32, 32), np.uint8)
            for k in range(n_patches):
                f = rng.uniform(1, 4, size=(3, 2))
                ph = rng.uniform(0, 6.28, size=3)
                for j in range(16):
                    d = rng.normal(0, 0.02 * (1 + j // 6), size=2)
                    img = sum(np.sin(6.28 * (f[i, 0] * (xx + d[0]) + f[i, 1] * (yy + d[1])) + ph[i]) for i in range(3))
                    clean[k, j] = np.clip(128 + 40 * img, 0, 255).astype(np.uint8)
            noisy = np.clip(clean + rng.normal(0, 15, clean.shape), 0, 255).astype(np.uint8)
            w.put(name, clean, noisy)
        w.set_split("default", train=names[:-2], test=names[-2:])
    return path
