"""Import and export the HPatches release layouts (hpatches-release and N-HPatches).

hpatches-release: one folder per sequence holding 16 PNGs (``ref.png``, ``e1.png`` ...
``t5.png``), each a vertical strip of 65x65 grey patches. N-HPatches: the same with 32x32
patches and ``<image>_noise.png`` beside each clean ``<image>.png``. 65x65 patches are resized
to 32x32 with area interpolation (hpatches-protocol.md, "Data").
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np

from hpdesc.atomic import atomic_folder, atomic_path, check_writable, make_dirs, refuse_inputs
from hpdesc.data.images import IMAGES
from hpdesc.data.store import DatasetWriter, PatchDataset
from hpdesc.errors import DataFormatError, UsageError

Progress = Optional[Callable[[int, int], None]]


def official_splits() -> dict[str, dict[str, list[str]]]:
    """The official HPatches splits shipped with hpdesc (BSD-2-Clause, see COPYING beside them)."""
    text = resources.files("hpdesc").joinpath("resources", "hpatches_tasks", "splits.json").read_text()
    raw = json.loads(text)
    return {name: {"train": list(v.get("train", [])), "test": list(v.get("test", []))} for name, v in raw.items()}


def detect_layout(src: Path) -> str:
    """Which layout a folder holds: 'release', 'nhpatches' or 'sequences'."""
    if not src.is_dir():
        raise UsageError(f"{src}: not a folder")
    seqs = _sequence_dirs(src)
    if not seqs:
        raise DataFormatError(f"{src}: no sequence folders (i_* or v_*) found")
    first = seqs[0]
    if (first / "1.ppm").exists() or (first / "H_1_2").exists():
        return "sequences"
    if (first / "ref_noise.png").exists():
        return "nhpatches"
    if (first / "ref.png").exists():
        return "release"
    raise DataFormatError(f"{first}: neither ref.png (patch release) nor 1.ppm (image sequences) found")


def _sequence_dirs(src: Path) -> list[Path]:
    return sorted(p for p in src.iterdir() if p.is_dir() and p.name[:2] in ("i_", "v_"))


def _read_strip(path: Path, size: int | None) -> np.ndarray:
    """Read a vertical strip PNG into (N, 32, 32) uint8, resizing from its patch size."""
    if not path.exists():
        raise DataFormatError(f"{path}: missing image")
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise DataFormatError(f"{path}: not a readable image")
    side = img.shape[1]
    if size is not None and side != size:
        raise DataFormatError(f"{path}: patches are {side} px wide, expected {size}")
    if img.shape[0] % side:
        raise DataFormatError(f"{path}: height {img.shape[0]} is not a multiple of the patch size {side}")
    patches = img.reshape(-1, side, side)
    if side != 32:
        patches = np.stack([cv2.resize(p, (32, 32), interpolation=cv2.INTER_AREA) for p in patches])
    return patches


def _read_sequence(seq_dir: Path, layout: str) -> tuple[np.ndarray, np.ndarray | None]:
    size = None if layout == "release" else 32  # release is 65x65; any square side is resized
    clean = [_read_strip(seq_dir / f"{im}.png", size) for im in IMAGES]
    counts = {len(c) for c in clean}
    if len(counts) != 1:
        per = ", ".join(f"{im}={len(c)}" for im, c in zip(IMAGES, clean))
        raise DataFormatError(f"{seq_dir}: images hold different patch counts ({per})")
    noisy = None
    if layout == "nhpatches":
        noisy_l = [_read_strip(seq_dir / f"{im}_noise.png", size) for im in IMAGES]
        if {len(c) for c in noisy_l} != counts:
            raise DataFormatError(f"{seq_dir}: noisy images hold a different patch count than the clean ones")
        noisy = np.stack(noisy_l, axis=1)
    return np.stack(clean, axis=1), noisy


def import_release(src: str | os.PathLike, out: str | os.PathLike, noise=None, seed: int = 0,
                   progress: Progress = None, tasks=None) -> Path:
    """Import hpatches-release or N-HPatches patches into an hpdesc patch file.

    Release data has no noisy patches: they are made with ``noise`` (the default noise model
    when None). N-HPatches keeps its own noisy patches. Splits are the official ones restricted
    to the sequences present.
    """
    from hpdesc.data.noise import NoiseModel

    src, out = Path(src), Path(out)
    layout = detect_layout(src)
    if layout == "sequences":
        raise UsageError(f"{src}: image-sequence layout; use import_sequences")
    seq_dirs = _sequence_dirs(src)
    check_writable(out)
    refuse_inputs([out], [src])
    # pass 1: counts (cheap: PNG headers via full read is fine at HPatches scale per sequence)
    counts = []
    for d in seq_dirs:
        ref = d / "ref.png"
        img = cv2.imread(str(ref), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise DataFormatError(f"{ref}: missing or unreadable")
        counts.append(img.shape[0] // img.shape[1])
    noise = noise or NoiseModel()
    rng = np.random.default_rng(seed)
    config = {"source": f"hpatches-{layout}", "path": str(src.resolve()), "layout": layout, "seed": seed,
              "noise": {"model": "as-shipped (N-HPatches)"} if layout == "nhpatches" else noise.to_dict()}
    names = [d.name for d in seq_dirs]
    with DatasetWriter(out, names, counts, config, tasks=tasks) as w:
        for i, d in enumerate(seq_dirs):
            clean, noisy = _read_sequence(d, layout)
            if len(clean) != counts[i]:
                raise DataFormatError(f"{d}: ref holds {counts[i]} patches but the sequence holds {len(clean)}")
            if noisy is None:
                noisy = noise.apply(clean, rng)
            w.put(d.name, clean, noisy)
            if progress:
                progress(i + 1, len(seq_dirs))
        _set_official_splits(w, names)
    return out


def _set_official_splits(w: DatasetWriter, names: list[str]) -> None:
    present = set(names)
    for split, parts in official_splits().items():
        test = [s for s in parts["test"] if s in present]
        train = [s for s in parts["train"] if s in present]
        if test:
            w.set_split(split, train=train, test=test)


def export_release(ds: PatchDataset, out: str | os.PathLike, kind: str = "nhpatches",
                   progress: Progress = None) -> Path:
    """Write a dataset in the N-HPatches layout (32x32 strips + ``_noise`` strips).

    ``kind='release'`` writes clean strips only, at 32x32 (hpdesc does not keep 65x65 patches).
    The folder is filled in a temporary sibling and renamed into place when complete.
    """
    out = Path(out)
    if out.exists():
        raise UsageError(f"{out}: already exists; choose a new folder")
    check_writable(out)
    refuse_inputs([], [ds.path], folders=[out])
    with atomic_folder(out) as tmp:  # the temporary sibling of a killed export is removed by the next one
        for i, seq in enumerate(ds.sequences):
            d = make_dirs(tmp / seq, target=out)
            clean = ds.patches(seq, kind="clean")
            noisy = ds.patches(seq, kind="noisy") if kind == "nhpatches" else None
            for j, im in enumerate(IMAGES):
                _write_png(d / f"{im}.png", clean[:, j].reshape(-1, 32))
                if noisy is not None:
                    _write_png(d / f"{im}_noise.png", noisy[:, j].reshape(-1, 32))
            if progress:
                progress(i + 1, len(ds.sequences))
    return out


def _write_png(path: Path, img: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        ok, buf = cv2.imencode(".png", img)
        if not ok:
            raise DataFormatError(f"{path}: could not encode PNG")
        tmp.write_bytes(buf.tobytes())
