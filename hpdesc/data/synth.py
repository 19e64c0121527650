"""The embedded default dataset: HPatches-like sequences rendered from bundled photographs.

Each sequence starts from a square crop of a real photograph (:mod:`hpdesc.data.photos`):

- ``i_*`` (illumination): the five target images are the reference with identity homographies
  and a photometric change whose strength grows with the image number ``k`` (``t = k / 5``):
  gamma ``exp(+-0.6 t)``, contrast ``exp(-0.7 t .. +0.45 t)``, brightness ``+-0.25 t``, a linear
  illumination ramp (gain up to ``exp(+-0.5 t)`` at the edges) and a broad light / shadow blob
  (``+-40 % t``); magnitudes are drawn in [0.6, 1] of these maxima, signs at random.
- ``v_*`` (viewpoint): target ``k`` is the photo seen by a rotated camera (focal length = crop
  size): an out-of-plane tilt of ``t * U(20, 45)`` degrees about a random axis, an in-plane roll
  of ``t * U(-20, 20)`` degrees and a zoom of ``U(0.75, 1.33) ** t``, re-centred and shifted by up
  to 4 % of the crop; rendered from the whole rescaled photo so the view has real pixels around
  the crop; strength is reduced until at least 45 % of the reference stays in view. A mild
  photometric change (30 % of the ``i_`` one) is added.

Patches are then cut by :mod:`hpdesc.data.extract` and noised by :mod:`hpdesc.data.noise`.
:func:`write_sequences` writes the same sequences as image folders in the
``hpatches-sequences-release`` layout instead (for the image-matching benchmark).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from hpdesc.data.extract import ExtractParams, SequenceSource, build_dataset
from hpdesc.data.noise import NoiseModel
from hpdesc.data.photos import crop_view, photo_names
from hpdesc.data.tasks import TaskMaker
from hpdesc.atomic import atomic_folder, check_writable, make_dirs
from hpdesc.errors import UsageError, WriteError
from hpdesc.pixels import quantise

GENERATOR_VERSION = 1
"""Bump when the same seed would give different patches (it names cache files)."""
SEQUENCES_GENERATOR = 2
"""The generator :func:`write_sequences` uses by default: 2, release-like (:mod:`hpdesc.data.realistic`).
The patch dataset (:func:`synthesize`, the cached default) is still cut from generator 1."""
GENERATORS = (1, 2)
SOURCE = "hpdesc-synth"
DEFAULT_SEQUENCES = 24
DEFAULT_PATCHES = 80
DEFAULT_IMAGE_SIZE = 320
DEFAULT_SPLIT = "default"

PHOTOMETRIC = {"gamma_log": 0.6, "contrast_log": (-0.7, 0.45), "brightness": 0.25,
               "ramp_log_gain": 0.5, "blob": 0.4, "draw_fraction": (0.6, 1.0), "v_strength": 0.3}
VIEWPOINT = {"tilt_deg": (20.0, 45.0), "roll_deg": 20.0, "zoom": (0.75, 1.33), "shift": 0.04,
             "focal": 1.0, "min_visible": 0.45}


def _photometric(img: np.ndarray, t: float, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    p = PHOTOMETRIC
    s = t * strength

    def mag():
        return rng.uniform(*p["draw_fraction"])

    h, w = img.shape
    gamma = np.exp(rng.choice([-1, 1]) * mag() * p["gamma_log"] * s)
    lo, hi = p["contrast_log"]
    contrast = np.exp((lo if rng.random() < 0.5 else hi) * mag() * s)
    bright = rng.choice([-1, 1]) * mag() * p["brightness"] * s
    phi = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = ((xx - w / 2) * np.cos(phi) + (yy - h / 2) * np.sin(phi)) / (max(h, w) / 2)
    gain = np.exp(rng.choice([-1, 1]) * mag() * p["ramp_log_gain"] * s * ramp)
    bx, by = rng.uniform(0, w), rng.uniform(0, h)
    blob = np.exp(-((xx - bx) ** 2 + (yy - by) ** 2) / (2 * (0.3 * max(h, w)) ** 2))
    gain = gain * (1 + rng.choice([-1, 1]) * mag() * p["blob"] * s * blob)
    out = np.power(np.clip(img, 0, 1), gamma)
    out = ((out - 0.5) * contrast + 0.5 + bright) * gain
    return np.clip(out, 0, 1).astype(np.float32)


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    rvec = (axis / np.linalg.norm(axis) * angle).reshape(3, 1)
    return cv2.Rodrigues(rvec)[0]


def _camera_homography(size: int, t: float, draw: dict) -> np.ndarray:
    c = np.array([size / 2.0, size / 2.0])
    f = VIEWPOINT["focal"] * size
    K = np.array([[f, 0, c[0]], [0, f, c[1]], [0, 0, 1.0]])
    R = _rotation(np.array([np.cos(draw["axis"]), np.sin(draw["axis"]), 0.0]), np.deg2rad(draw["tilt"] * t))
    P = K @ R @ np.linalg.inv(K)
    pc = P @ np.array([c[0], c[1], 1.0])
    pc = pc[:2] / pc[2]
    a, z = np.deg2rad(draw["roll"] * t), draw["zoom"] ** t
    S = np.array([[z * np.cos(a), -z * np.sin(a), 0], [z * np.sin(a), z * np.cos(a), 0], [0, 0, 1.0]])
    T = lambda v: np.array([[1, 0, v[0]], [0, 1, v[1]], [0, 0, 1.0]])  # noqa: E731
    H = T(c + draw["shift"] * t * size) @ S @ T(-c) @ T(c - pc) @ P
    return H / H[2, 2]


def _visible(H: np.ndarray, size: int) -> float:
    u = np.linspace(0, size - 1, 24)
    xy = np.stack(np.meshgrid(u, u), -1).reshape(-1, 2)
    p = np.c_[xy, np.ones(len(xy))] @ H.T
    if (p[:, 2] <= 0).any():
        return 0.0
    q = p[:, :2] / p[:, 2:]
    return float(((q >= 0) & (q <= size - 1)).all(axis=1).mean())


def _fit_view(draw: dict, size: int, min_visible: float, tries: int, factor: float) -> dict:
    """Shrink a viewpoint draw towards the identity until ``min_visible`` of the frame stays in view."""
    for _ in range(tries):
        if _visible(_camera_homography(size, 1.0, draw), size) >= min_visible:
            break
        draw = {**draw, "tilt": draw["tilt"] * factor, "roll": draw["roll"] * factor,
                "zoom": draw["zoom"] ** factor, "shift": draw["shift"] * factor}
    return draw


def _viewpoint_draw(size: int, rng: np.random.Generator) -> dict:
    v = VIEWPOINT
    draw = {"axis": rng.uniform(0, np.pi), "tilt": rng.choice([-1, 1]) * rng.uniform(*v["tilt_deg"]),
            "roll": rng.uniform(-1, 1) * v["roll_deg"], "zoom": float(np.exp(rng.uniform(*np.log(v["zoom"])))),
            "shift": rng.uniform(-1, 1, 2) * v["shift"]}
    return _fit_view(draw, size, v["min_visible"], tries=20, factor=0.8)


def _key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _viewpoint_draw2(size: int, rng: np.random.Generator) -> dict:
    """Generator 2's ``v_`` draw (:data:`hpdesc.data.realistic.VIEWPOINT`): HPatches-strength changes."""
    from hpdesc.data.realistic import VIEWPOINT as V

    lo, hi = np.log(V["zoom"]) if rng.random() < V["zoom_share"] else np.log([0.8, 1.25])
    draw = {"axis": rng.uniform(0, np.pi), "tilt": rng.choice([-1, 1]) * rng.uniform(*V["tilt_deg"]),
            "roll": rng.uniform(-1, 1) * V["roll_deg"], "zoom": float(np.exp(rng.uniform(lo, hi))),
            "shift": rng.uniform(-1, 1, 2) * V["shift"]}
    return _fit_view(draw, size, V["min_visible"], tries=30, factor=0.9)


def _render_v2(name: str, photo: str, crop_index: int, seed: int, size: int):
    """Generator 2 (:mod:`hpdesc.data.realistic`): the same crops as generator 1, release-like images."""
    from hpdesc.data.realistic import (LIGHTING, camera_image, draw_lighting, exposure_levels, linear_photo,
                                       photo_to_reference, textured_view, warp_photo)

    rng = np.random.default_rng([int(seed), _key(name), 2])
    view = textured_view(photo, crop_index, size, rng)
    scene = linear_photo(photo)
    A = photo_to_reference(view, scene.shape[:2])
    illum = name.startswith("i_")
    Hs = [np.eye(3)] * 5
    if not illum:
        draw = _viewpoint_draw2(size, rng)
        Hs = [_camera_homography(size, k / 5, draw) for k in range(1, 6)]
    first = warp_photo(scene, A, size)
    levels = exposure_levels(first)  # the camera's exposure, set on the reference and kept
    images = []
    for k in range(6):
        view_k = first if (illum or k == 0) else warp_photo(scene, Hs[k - 1] @ A, size)
        light = draw_lighting(size, k / 5, rng, 1.0 if illum else LIGHTING["v_strength"])
        images.append(camera_image(view_k, light, rng, levels))
    return images[0], images[1:], Hs, {**view.to_dict(), "generator": 2}


def render_sequence(name: str, photo: str, crop_index: int, seed: int, size: int = DEFAULT_IMAGE_SIZE,
                    generator: int = 1):
    """Images of one synthetic sequence: ``(ref, targets, homographies, crop_info)``.

    ``ref`` and the five ``targets`` are (size, size) float32 in [0, 1]; ``homographies[k-1]``
    maps ref pixels to target ``k`` pixels. Deterministic in ``(name, seed)``. ``generator``: 1
    (the patch dataset's mild changes) or 2 (release-like, :mod:`hpdesc.data.realistic`).
    """
    if generator not in GENERATORS:
        raise UsageError(f"unknown generator {generator!r}; use one of {', '.join(map(str, GENERATORS))}")
    if generator == 2:
        return _render_v2(name, photo, crop_index, seed, size)
    rng = np.random.default_rng([int(seed), _key(name), 0])
    view = crop_view(photo, crop_index, size, rng)
    ref = np.ascontiguousarray(view.image, dtype=np.float32)
    targets, Hs = [], []
    if name.startswith("i_"):
        for k in range(1, 6):
            targets.append(_photometric(ref, k / 5, rng))
            Hs.append(np.eye(3))
    else:
        draw = _viewpoint_draw(size, rng)
        off = np.array([[1, 0, -view.x0], [0, 1, -view.y0], [0, 0, 1.0]])
        for k in range(1, 6):
            H = _camera_homography(size, k / 5, draw)
            img = cv2.warpPerspective(view.context, H @ off, (size, size), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REFLECT)
            targets.append(_photometric(img, k / 5, rng, PHOTOMETRIC["v_strength"]))
            Hs.append(H)
    return ref, targets, Hs, view.to_dict()


def sequence_plan(n_sequences: int) -> list[tuple[str, str, int]]:
    """``(name, photo, crop_index)`` of each sequence: i_ and v_ alternate, photos cycle."""
    photos = photo_names()
    plan = []
    for k in range(n_sequences):
        kind = "i" if k % 2 == 0 else "v"
        photo, rnd = photos[k % len(photos)], k // len(photos)
        plan.append((f"{kind}_{photo}_{rnd}", photo, rnd))
    return plan


def default_split(names: list[str], photo_of: dict[str, str], seed: int) -> tuple[list[str], list[str]]:
    """``(train, test)``: about a quarter of each kind held out, at least one i_ and one v_.

    Test sequences preferably come from photos no other sequence uses; a test photo's other
    sequences go to test with it, so no crop of a test photo is ever in training (with many
    sequences per photo the test part can then exceed a quarter).
    """
    rng = np.random.default_rng([int(seed), 7])
    counts: dict[str, int] = {}
    for n in names:
        counts[photo_of[n]] = counts.get(photo_of[n], 0) + 1
    test: list[str] = []
    for kind in ("i_", "v_"):
        group = [n for n in names if n.startswith(kind)]
        nk = len(group)
        if nk == 0:
            continue
        want = (0 if kind == "i_" else 1) if nk == 1 else int(np.clip(int(nk / 4 + 0.5), 1, nk - 1))
        order = rng.permutation(nk)
        ranked = sorted((group[i] for i in order), key=lambda n: counts[photo_of[n]] > 1)
        for n in ranked:
            if sum(t.startswith(kind) for t in test) >= want:
                break
            if n in test:
                continue
            with_photo = [m for m in names if photo_of[m] == photo_of[n] and m not in test]
            left = [m for m in names if m not in test and m not in with_photo]
            if not left or (nk > 1 and all(m in with_photo or m in test for m in group)):
                continue  # would leave no training sequence (of this kind)
            test += with_photo
    train = [n for n in names if n not in test]
    test = [n for n in names if n in test]
    return train, test


def synthesize(path, n_sequences: int = DEFAULT_SEQUENCES, n_patches: int = DEFAULT_PATCHES, seed: int = 0,
               noise: NoiseModel | None = None, progress: Callable[[int, int], None] | None = None, *,
               image_size: int = DEFAULT_IMAGE_SIZE, params: ExtractParams | None = None,
               tasks: TaskMaker | None = None) -> Path:
    """Generate the embedded HPatches-like dataset into the patch file ``path``; returns it.

    ``n_sequences`` sequences (i_ and v_ alternating) of up to ``n_patches`` patches each, from
    ``image_size`` crops of the bundled photographs; one split, ``"default"``. The same
    arguments give the same patch bytes. ``progress(done, total)`` is called as it goes.
    ``tasks``: stores the split's benchmark tasks (:class:`~hpdesc.data.store.DatasetWriter`;
    hpdesc passes :func:`hpdesc.benchmark.tasks.build_tasks`).
    """
    _check_sizes(n_sequences, image_size)
    if int(n_patches) < 1:
        raise UsageError(f"n_patches must be at least 1, got {n_patches}")
    noise = noise if noise is not None else NoiseModel()
    params = params or ExtractParams()
    plan = sequence_plan(int(n_sequences))
    photo_of = {name: photo for name, photo, _ in plan}
    crops: dict[str, dict] = {}

    def source(name, photo, rnd):
        def load():
            ref, targets, Hs, _info = render_sequence(name, photo, rnd, seed, image_size)
            return ref, targets, Hs
        return SequenceSource(name, load)

    for name, photo, rnd in plan:
        rng = np.random.default_rng([int(seed), _key(name), 0])
        crops[name] = crop_view(photo, rnd, image_size, rng).to_dict()
    config = {
        "source": SOURCE,
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "n_sequences": int(n_sequences),
        "n_patches": int(n_patches),
        "image_size": int(image_size),
        "photos": sorted(set(photo_of.values()), key=list(photo_names()).index),
        "crops": crops,
        "photometric": PHOTOMETRIC,
        "viewpoint": VIEWPOINT,
        "extract": params.to_dict(),
        "noise": noise.to_dict(),
        "splits": {DEFAULT_SPLIT: "about 1/4 of the i_ and of the v_ sequences held out for test"},
    }
    return build_dataset(path, [source(*p) for p in plan], int(n_patches), int(seed), noise, params, config,
                         lambda names: {DEFAULT_SPLIT: default_split(names, photo_of, seed)}, progress, tasks)


def _check_sizes(n_sequences: int, image_size: int) -> None:
    if int(n_sequences) < 2:
        raise UsageError(f"n_sequences must be at least 2 (one i_ and one v_), got {n_sequences}")
    if int(image_size) < 96:
        raise UsageError(f"image_size must be at least 96 pixels, got {image_size}")


def _write_ppm(path: Path, img: np.ndarray) -> None:
    """A grey float image in [0, 1] as an 8-bit colour PPM (P6), as the release stores its images."""
    grey = quantise(img)
    ok, buf = cv2.imencode(".ppm", cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    if not ok:
        raise WriteError(f"cannot write {path}: OpenCV could not encode the image")
    path.write_bytes(buf.tobytes())


def write_sequences(out_dir, n_sequences: int = DEFAULT_SEQUENCES, seed: int = 0, *,
                    image_size: int = DEFAULT_IMAGE_SIZE, force: bool = False,
                    progress: Callable[[int, int], None] | None = None, generator: int = SEQUENCES_GENERATOR,
                    split: str | None = None) -> Path:
    """Write the embedded sequences as ``hpatches-sequences-release`` folders under ``out_dir``; returns it.

    One folder per sequence (the names, photos and pixels of :func:`synthesize`'s sequences with
    the same ``seed`` and ``image_size``): ``1.ppm`` .. ``6.ppm`` (8-bit colour PPM, grey content,
    ``image_size`` square) and ``H_1_2`` .. ``H_1_6`` (3x3 text, image-1 pixels to image-k pixels;
    the identity for ``i_``), plus ``hpdesc-synth.json`` recording how they were made. The whole
    tree is built in a temporary sibling and renamed into place when complete; an existing
    non-empty ``out_dir`` is refused unless ``force`` (then replaced only once the new one is done).
    ``generator``: 2 (default, release-like images, :mod:`hpdesc.data.realistic`) or 1 (the patch
    dataset's own mild sequences). ``split``: ``"train"`` or ``"test"`` writes only those sequences
    of the default split (:func:`default_split`: no photo of a test sequence is in training); the
    JSON records every sequence's side either way.
    """
    _check_sizes(n_sequences, image_size)
    if generator not in GENERATORS:
        raise UsageError(f"unknown generator {generator!r}; use one of {', '.join(map(str, GENERATORS))}")
    if split not in (None, "train", "test"):
        raise UsageError(f"unknown split {split!r}; use train or test (of the default split), or leave it out")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is a file; choose a new folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"{out}: already exists and is not empty; choose a new folder or pass --force")
    check_writable(out, folder=True)
    plan = sequence_plan(int(n_sequences))
    train, test = default_split([n for n, _, _ in plan], {n: p for n, p, _ in plan}, seed)
    if split is not None:
        keep = set(train if split == "train" else test)
        plan = [p for p in plan if p[0] in keep]
    with atomic_folder(out) as tmp:  # built whole in a temporary sibling, then renamed into place
        for i, (name, photo, rnd) in enumerate(plan):
            ref, targets, Hs, _info = render_sequence(name, photo, rnd, seed, image_size, generator)
            d = make_dirs(tmp / name, target=out)
            for k, img in enumerate([ref, *targets], start=1):
                _write_ppm(d / f"{k}.ppm", img)
            for k, H in enumerate(Hs, start=2):
                np.savetxt(d / f"H_1_{k}", np.asarray(H, np.float64) / H[2, 2], fmt="%.17g")
            if progress:
                progress(i + 1, len(plan))
        info = {"source": SOURCE, "layout": "hpatches-sequences-release", "generator_version": int(generator),
                "seed": int(seed), "n_sequences": int(n_sequences), "image_size": int(image_size),
                "sequences": [name for name, _, _ in plan], "split": split or "all",
                "default_split": {"train": train, "test": test}}
        (tmp / "hpdesc-synth.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out
