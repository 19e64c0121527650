"""Import the real HPatches full-image release (``hpatches-sequences-release``) as a patch file.

Layout read: one folder per sequence, ``i_*`` or ``v_*``, holding images ``1.ppm`` .. ``6.ppm``
(image 1 is the reference) and homographies ``H_1_2`` .. ``H_1_6``: 3x3 whitespace-separated
text mapping image-1 pixels to image-k pixels. Patches are cut by the same pipeline as the
embedded dataset (:mod:`hpdesc.data.extract`: detections on image 1, reprojected through the
real homographies with easy / hard / tough jitter) and noised by :mod:`hpdesc.data.noise`.
Splits are the official ones (``resources/hpatches_tasks/splits.json``) restricted to the
sequences present; a split with no test sequence present is left out.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from hpdesc.data.extract import ExtractParams, SequenceSource, build_dataset
from hpdesc.data.noise import NoiseModel
from hpdesc.data.budget import check_pixels, header_size
from hpdesc.errors import DataFormatError, UsageError

SOURCE = "hpatches-sequences-release"
DEFAULT_PATCHES = 200
IMAGE_EXTS = (".ppm", ".pgm", ".png", ".jpg")


def official_splits() -> dict[str, dict[str, list[str]]]:
    """The official HPatches splits: ``{name: {"train": [...], "test": [...]}}``."""
    text = resources.files("hpdesc").joinpath("resources/hpatches_tasks/splits.json").read_text("utf-8")
    raw = json.loads(text)
    return {name: {"train": list(v.get("train", [])), "test": list(v.get("test", []))} for name, v in raw.items()}


def image_file(folder: Path, k: int) -> Path:
    """Image ``k`` (1..6) of a sequence folder, whichever of the known extensions it has."""
    for ext in IMAGE_EXTS:
        p = folder / f"{k}{ext}"
        if p.is_file():
            return p
    raise DataFormatError(f"{folder}: missing image {k}.ppm",
                          hint="each sequence folder needs images 1.ppm .. 6.ppm (hpatches-sequences-release layout)")


_image_file = image_file  # the old private name


def read_image(path: Path) -> np.ndarray:
    """A sequence image as grey float32 in [0, 1]. Shape: ``(H, W)``.

    8-bit images are scaled by 255 and 16-bit ones by 65535 (read at full depth, not through an
    8-bit conversion); colour is converted with OpenCV's BGR weights and an alpha channel is
    dropped. A missing or undecodable file is one :class:`DataFormatError` naming it; an image
    over the pixel budget (:mod:`hpdesc.data.budget`) a UsageError, before it is decoded.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    check_pixels(path)  # an image over the pixel budget: refused from its header, before decoding
    # cv2.imread takes no unicode paths on some platforms; decoding bytes avoids that and its warnings
    try:
        buf = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read image ({exc.strerror or exc})") from None
    # grey at the file's own depth: 8-bit files give the same bytes as cv2.IMREAD_GRAYSCALE always
    # did, 16-bit ones keep all their bits (plain IMREAD_GRAYSCALE would cut them to 8); OpenCV's
    # colour conversion ignores an alpha channel
    img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH) if buf.size else None
    if img is None:
        raise DataFormatError(f"{path}: cannot read image (not a PPM/PGM/PNG/JPEG file OpenCV can decode)")
    check_pixels(path, img.shape[:2])  # a header we could not read: checked after decoding
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0,
             np.dtype(np.float32): 1.0, np.dtype(np.float64): 1.0}.get(img.dtype)
    if scale is None or img.ndim != 2:
        raise DataFormatError(f"{path}: cannot read image (unsupported pixel type {img.dtype}, shape {img.shape})")
    img = img.astype(np.float32) / np.float32(scale)  # float images (TIFF/EXR) are taken as [0, 1]
    return np.clip(img, 0.0, 1.0)


def image_shape(path: Path) -> tuple[int, int]:
    """(H, W) from a PPM / PGM header without decoding pixels; other formats are decoded."""
    if path.suffix in (".ppm", ".pgm"):
        size = header_size(path)
        if size is None:
            raise DataFormatError(f"{path}: not a valid PPM/PGM image (bad header)")
        return size
    return read_image(path).shape


_image_shape = image_shape  # the old private name


def read_homography(path: Path) -> np.ndarray:
    """A 3x3 homography from whitespace-separated text (DataFormatError names the file)."""
    if not path.is_file():
        raise DataFormatError(f"{path.parent}: missing homography {path.name}",
                              hint="each sequence folder needs H_1_2 .. H_1_6")
    try:
        vals = [float(x) for x in path.read_text(encoding="utf-8", errors="replace").split()]
    except ValueError as exc:
        raise DataFormatError(f"{path}: malformed homography ({exc})",
                              hint="expected 9 whitespace-separated numbers (a 3x3 matrix)") from None
    if len(vals) != 9:
        raise DataFormatError(f"{path}: malformed homography: expected 9 numbers (3x3), found {len(vals)}")
    H = np.array(vals, dtype=np.float64).reshape(3, 3)
    if not np.isfinite(H).all() or abs(H[2, 2]) < 1e-12 or abs(np.linalg.det(H)) < 1e-12:
        raise DataFormatError(f"{path}: malformed homography: not finite or not invertible")
    return H / H[2, 2]


def find_sequences(src_dir) -> list[Path]:
    """Sequence folders (``i_*`` / ``v_*``) under ``src_dir``, sorted by name."""
    src = Path(src_dir)
    if not src.is_dir():
        raise UsageError(f"{src}: no such directory")
    seqs = sorted(p for p in src.iterdir() if p.is_dir() and p.name[:2] in ("i_", "v_"))
    if not seqs:
        raise DataFormatError(f"{src}: no sequence folders (i_* or v_*) found",
                              hint="point at the unpacked hpatches-sequences-release folder")
    return seqs


def _source(folder: Path) -> SequenceSource:
    files = [_image_file(folder, k) for k in range(1, 7)]  # fail early on a missing image
    Hs = [read_homography(folder / f"H_1_{k}") for k in range(2, 7)]

    def load():
        return read_image(files[0]), [read_image(f) for f in files[1:]], Hs

    def load_geometry():
        return read_image(files[0]), Hs, [image_shape(f) for f in files[1:]]

    return SequenceSource(folder.name, load, load_geometry)


def import_sequences(src_dir, out_path, n_patches: int = DEFAULT_PATCHES, seed: int = 0,
                     noise: NoiseModel | None = None, progress: Callable[[int, int], None] | None = None, *,
                     params: ExtractParams | None = None, tasks=None) -> Path:
    """Cut up to ``n_patches`` patches per sequence of an hpatches-sequences-release folder.

    Writes the patch file ``out_path`` (atomically) with the official splits restricted to the
    sequences found; returns its path. Deterministic given ``seed``.
    """
    if int(n_patches) < 1:
        raise UsageError(f"n_patches must be at least 1, got {n_patches}")
    from hpdesc.atomic import refuse_inputs

    refuse_inputs([out_path], [src_dir])
    noise = noise if noise is not None else NoiseModel()
    params = params or ExtractParams()
    folders = find_sequences(src_dir)
    sources = [_source(f) for f in folders]
    official = official_splits()

    def splits(names: list[str]) -> dict[str, tuple[list[str], list[str]]]:
        present = set(names)
        out = {}
        for name, sp in official.items():
            test = [s for s in sp["test"] if s in present]
            if test:
                out[name] = ([s for s in sp["train"] if s in present], test)
        return out

    config = {
        "source": SOURCE,
        "src_dir": str(Path(src_dir).resolve()),
        "seed": int(seed),
        "n_patches": int(n_patches),
        "extract": params.to_dict(),
        "noise": noise.to_dict(),
        "splits": "official HPatches splits restricted to the sequences present",
    }
    return build_dataset(out_path, sources, int(n_patches), int(seed), noise, params, config, splits, progress, tasks)
