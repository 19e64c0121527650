"""The denoising table: PSNR and SSIM of noisy and denoised patches against clean, per noise level.

Rows: the jitter / noise levels ``e``, ``h``, ``t`` (images e1..e5, h1..h5, t1..t5), the sequence
types ``i_`` (illumination) and ``v_`` (viewpoint), and ``mean`` (all e, h, t images; the ``ref``
image, noisy at its own level, is left out as the HPatches tasks' reference). The one-number PSNR
hpdesc prints (``hpdesc train``, ``hpdesc denoise``, a denoised file's ``psnr``) is this table's
``mean`` row (:meth:`DenoisingMeter.psnr`): there is one PSNR definition. PSNR of a row is
``10 log10(255^2 / MSE)`` with the MSE over every pixel of the row (as
``skimage.metrics.peak_signal_noise_ratio`` gives on the row's patches stacked, ``data_range=255``);
SSIM is the mean over the row's patches of ``skimage.metrics.structural_similarity`` (7x7 window,
``data_range=255``). Evaluation uses skimage's SSIM (training losses are separate code).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from hpdesc.data.images import IMAGES, LEVELS

ROWS = LEVELS + ("i_", "v_", "mean")
KINDS = ("noisy", "denoised")
ROW_TITLES = {"e": "easy (e)", "h": "hard (h)", "t": "tough (t)", "i_": "illumination (i_)",
              "v_": "viewpoint (v_)", "mean": "mean"}
_LEVEL_OF = np.array([name[0] if name != "ref" else "" for name in IMAGES])


def psnr_db(mse: float) -> float:
    """PSNR (dB) of uint8 data with mean squared error ``mse`` (inf when equal)."""
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


def ssim_patches(clean: np.ndarray, other: np.ndarray) -> np.ndarray:
    """skimage SSIM of each patch pair: uint8 ``(N, H, W)`` twice -> float64 ``(N,)``."""
    from skimage.metrics import structural_similarity

    return np.array([structural_similarity(c, o, data_range=255) for c, o in zip(clean, other)], np.float64)


class _Acc:
    """Squared-error sum, pixel count, SSIM sum and patch count of one row and kind."""

    __slots__ = ("se", "pixels", "ssim", "patches")

    def __init__(self):
        self.se = self.ssim = 0.0
        self.pixels = self.patches = 0


class DenoisingMeter:
    """Accumulates a sequence at a time; :meth:`result` is the table."""

    def __init__(self, ssim: bool = True):
        self.acc = {(row, kind): _Acc() for row in ROWS for kind in KINDS}
        self.with_ssim = ssim

    def add(self, clean: np.ndarray, noisy: np.ndarray, denoised: np.ndarray, sequence: str | None = None) -> None:
        """uint8 ``(N, 16, H, W)`` clean / noisy / denoised patches of (part of) ``sequence``."""
        kind_rows = [r for r in ("i_", "v_") if (sequence or "").startswith(r)]
        c = clean.astype(np.float64)
        for kind, arr in (("noisy", noisy), ("denoised", denoised)):
            for level in LEVELS:
                cols = np.flatnonzero(_LEVEL_OF == level)
                cl, ar = clean[:, cols].reshape((-1,) + clean.shape[2:]), arr[:, cols].reshape((-1,) + arr.shape[2:])
                se = float(np.sum((arr[:, cols].astype(np.float64) - c[:, cols]) ** 2))
                ss = float(ssim_patches(cl, ar).sum()) if self.with_ssim else 0.0
                for row in (level, "mean", *kind_rows):
                    a = self.acc[(row, kind)]
                    a.se += se
                    a.pixels += cl.size
                    a.ssim += ss
                    a.patches += len(cl)

    def result(self) -> dict:
        """``{row: {"psnr_noisy", "psnr_denoised", "ssim_noisy", "ssim_denoised", "patches"}}`` (rows with data)."""
        out: dict = {}
        for row in ROWS:
            accs = {k: self.acc[(row, k)] for k in KINDS}
            if not accs["noisy"].patches:
                continue
            r: dict = {}
            for kind, a in accs.items():
                r[f"psnr_{kind}"] = psnr_db(a.se / a.pixels)
                r[f"ssim_{kind}"] = a.ssim / a.patches if self.with_ssim else None
            r["patches"] = accs["noisy"].patches
            out[row] = r
        return out

    def psnr(self) -> dict:
        """The one-number PSNR: ``{"noisy": dB, "denoised": dB}`` of the ``mean`` row (e, h, t images;
        ``ref`` left out), empty before any ``add``."""
        return psnr_of(self.result())


def psnr_of(rows: dict) -> dict:
    """The one-number PSNR of a table's rows (its ``mean`` row), as :meth:`DenoisingMeter.psnr`."""
    mean = rows.get("mean")
    return {k: mean[f"psnr_{k}"] for k in KINDS} if mean else {}


@dataclass
class DenoisingResult:
    """One denoiser's table on one dataset split."""

    denoiser: str
    dataset: str
    split: str | None
    rows: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"format": "hpdesc.denoising", "version": 1, "denoiser": self.denoiser,
                "dataset": self.dataset, "split": self.split, "rows": self.rows}

    @classmethod
    def from_dict(cls, d: dict) -> "DenoisingResult":
        return cls(d.get("denoiser", "?"), d.get("dataset", ""), d.get("split"), dict(d.get("rows", {})))

    def psnr(self, row: str = "mean") -> float | None:
        """Denoised PSNR (dB) of a row, None without it."""
        return self.rows.get(row, {}).get("psnr_denoised")


def _db(x) -> str:
    return "-" if x is None else ("inf" if math.isinf(x) else f"{x:.2f}")


def _ssim(x) -> str:
    return "-" if x is None else f"{x:.4f}"


def table_rows(results: Sequence[DenoisingResult]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the table: one line per (level, denoiser), the noisy input first per level."""
    header = ["Level", "Denoiser", "PSNR dB", "SSIM", "Patches"]
    rows = []
    for row in ROWS:
        present = [r for r in results if row in r.rows]
        if not present:
            continue
        first = present[0].rows[row]
        rows.append([ROW_TITLES[row], "noisy input", _db(first["psnr_noisy"]), _ssim(first["ssim_noisy"]),
                     str(first["patches"])])
        for r in present:
            v = r.rows[row]
            rows.append([ROW_TITLES[row], r.denoiser, _db(v["psnr_denoised"]), _ssim(v["ssim_denoised"]),
                         str(v["patches"])])
    return header, rows


def to_markdown(results: Sequence[DenoisingResult]) -> str:
    """A Markdown table: per level, the noisy input and each denoiser (PSNR and SSIM against clean)."""
    results = list(results)
    header, rows = table_rows(results)
    first = results[0]
    lines = ["# Denoising: PSNR and SSIM against the clean patches", "",
             f"Dataset `{first.dataset}`, split `{first.split}`. PSNR over all pixels of a row; SSIM "
             "(skimage, 7x7 window) averaged over its patches. Higher is better.", "",
             "| " + " | ".join(header) + " |", "|---|---|---:|---:|---:|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_json(results: Sequence[DenoisingResult], path) -> Path:
    """One result as an object, several as a list (``--compare``)."""
    from hpdesc.atomic import write_text_atomic

    data = [r.to_dict() for r in results]
    payload = data[0] if len(data) == 1 else data
    write_text_atomic(path, json.dumps(payload, indent=2) + "\n")
    return Path(path)


def write_markdown(results: Sequence[DenoisingResult], path) -> Path:
    from hpdesc.atomic import write_text_atomic

    write_text_atomic(path, to_markdown(results))
    return Path(path)


def plot_bars(results: Sequence[DenoisingResult], path) -> Path:
    """Grouped bar chart of PSNR per level (e, h, t, mean): the noisy input, then each denoiser."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hpdesc.atomic import atomic_path

    results = list(results)
    levels = [r for r in ("e", "h", "t", "i_", "v_", "mean") if any(r in res.rows for res in results)]
    series = [("noisy input", [results[0].rows.get(lv, {}).get("psnr_noisy") for lv in levels])]
    series += [(r.denoiser, [r.rows.get(lv, {}).get("psnr_denoised") for lv in levels]) for r in results]
    fig, ax = plt.subplots(figsize=(min(13.0, 4.0 + 0.3 * len(levels) * len(series)), 3.8))
    width = 0.8 / len(series)
    for i, (label, vals) in enumerate(series):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(levels))]
        ys = [0.0 if v is None or math.isinf(v) else v for v in vals]
        bars = ax.bar(xs, ys, width, label=label)
        for b, v in zip(bars, vals):
            if v is not None and not math.isinf(v):
                ax.annotate(f"{v:.1f}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                            va="bottom", fontsize=7)
    ax.set_xticks(range(len(levels)), [ROW_TITLES[lv].replace(" (", "\n(") for lv in levels], fontsize=8)
    ax.set_ylabel("PSNR (dB) vs clean")
    ax.set_title("Denoising PSNR per level")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    finite = [v for _, vals in series for v in vals if v is not None and not math.isinf(v)]
    if finite:
        ax.set_ylim(max(0.0, min(finite) - 4.0), max(finite) + 2.0)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    return Path(path)


__all__ = ["DenoisingMeter", "DenoisingResult", "KINDS", "ROWS", "plot_bars", "psnr_db", "psnr_of", "ssim_patches",
           "table_rows", "to_markdown", "write_json", "write_markdown"]
