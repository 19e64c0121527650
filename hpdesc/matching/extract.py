"""Keypoint features of an image with a trained run or a named descriptor: ``make_extractor``.

An extractor turns a grey image into :class:`~hpdesc.matching.features.Features`: optional
sensor noise on the whole image (hpdesc's noise model at one level, seeded), quantisation to
uint8, OpenCV detection (:mod:`hpdesc.matching.keypoints`), 32x32 patches at each keypoint's scale
and orientation, then the patch pipeline of :mod:`hpdesc.inference.pipeline` (noisy -> denoiser
-> uint8 -> descriptor), the same as for patch datasets. A denoiser that declares itself fully
convolutional (:func:`hpdesc.models.fully_convolutional`: dncnn, the U-Nets, ffdnet) can instead run once over the whole image before the patches are cut
(``whole_image``; the default is chosen by ``benchmarks/features_speed.py``, docs/matching.md).
"""

from __future__ import annotations

import re
import time
import zlib
from pathlib import Path
from typing import Iterable

import numpy as np

from hpdesc.data.images import LEVELS
from hpdesc.errors import UsageError
from hpdesc.matching.features import Features
from hpdesc.matching.keypoints import check_detector, cut_patches, detect, to_uint8

NOISE_LEVELS = LEVELS  # e, h, t: the dataset's noise levels
WHOLE_IMAGE_DEFAULT = True
"""Whether a fully convolutional denoiser runs on the whole image unless told otherwise (measured:
docs/matching.md, "Whole-image or per-patch denoising")."""
DETECT_ON = ("denoised", "noisy")
DETECT_ON_DEFAULT = "denoised"
"""Where keypoints are detected when a denoiser runs on the whole image: on its output (default,
measured better: docs/matching.md, "Detection before or after denoising") or on the noisy input."""


def check_noise(noise: str | None) -> str | None:
    """The one check of a ``noise`` option: ``e`` / ``h`` / ``t``, or None for none (``None``, ``""``, ``"none"``)."""
    if noise in (None, "", "none"):
        return None
    if noise not in NOISE_LEVELS:
        raise UsageError(f"unknown noise level {noise!r}; use none, {', '.join(NOISE_LEVELS)}")
    return noise


def extractor_options(detector: str = "sift", max_keypoints: int = 2048, noise: str | None = None) -> dict:
    """The checked detection options of :func:`make_extractor` (each checked here only):
    ``{"detector", "max_keypoints", "noise"}`` (``noise`` None for none)."""
    check_detector(detector)
    if isinstance(max_keypoints, bool) or not isinstance(max_keypoints, (int, np.integer)) or max_keypoints < 1:
        raise UsageError(f"max_keypoints must be a whole number, at least 1, got {max_keypoints!r}")
    return {"detector": detector, "max_keypoints": int(max_keypoints), "noise": check_noise(noise)}


def add_noise(image: np.ndarray, level: str, seed: int = 0) -> np.ndarray:
    """``image`` (float [0, 1]) with hpdesc's noise at ``level`` -> uint8, like a noisy patch.

    The generator is seeded with ``seed`` and the image's content, so an image gets the same noise
    whatever the order images are processed in. Shape: ``(H, W)`` -> ``(H, W)`` uint8.
    """
    from hpdesc.data.noise import NoiseModel

    level = check_noise(level)
    if level is None:
        raise UsageError("add_noise needs a noise level: e, h or t")
    sigma, gain = NoiseModel().level_params(level)
    clean = to_uint8(image)
    rng = np.random.default_rng([int(seed), zlib.crc32(clean.tobytes()), NOISE_LEVELS.index(level)])
    x = clean.astype(np.float32)
    std = np.sqrt(np.float32(sigma ** 2) + np.float32(gain) * x)
    return np.clip(np.rint(x + std * rng.standard_normal(x.shape, dtype=np.float32)), 0, 255).astype(np.uint8)


class FeatureExtractor:
    """``extractor(image) -> Features`` for grey float32 ``(H, W)`` images in [0, 1].

    ``name``: the method's label in tables (``sift``, ``dncnn+hardnet (run R)``); ``method``: the
    same as a file-name suffix (``<image>.<method>``: letters, digits, ``+ - _``). ``timings``:
    seconds spent so far per phase (``noise``, ``detect``, ``patches``, ``denoise``, ``describe``).
    """

    def __init__(self, name: str, method: str, pipe, *, detector: str, max_keypoints: int,
                 noise: str | None, seed: int, image_denoiser=None, detect_on: str = DETECT_ON_DEFAULT):
        self.name, self.method = name, method
        self.pipe = pipe
        self.detector, self.max_keypoints = detector, int(max_keypoints)
        self.noise, self.seed = noise, int(seed)
        self.image_denoiser = image_denoiser
        self.detect_on = detect_on
        self.timings = {k: 0.0 for k in ("noise", "detect", "patches", "denoise", "describe")}

    @property
    def whole_image(self) -> bool:
        return self.image_denoiser is not None

    @property
    def dim(self) -> int:
        return self.pipe.dim

    def _tick(self, phase: str, t0: float) -> float:
        t = time.perf_counter()
        self.timings[phase] += t - t0
        return t

    def input_image(self, image: np.ndarray) -> np.ndarray:
        """The uint8 image the detector sees: ``image`` quantised, with the extractor's noise if any."""
        img = np.asarray(image)
        if img.ndim != 2:
            raise UsageError(f"expected a grey (H, W) image, got shape {img.shape}")
        return add_noise(img, self.noise, self.seed) if self.noise else to_uint8(img)

    def __call__(self, image: np.ndarray) -> Features:
        t = time.perf_counter()
        img8 = self.input_image(image)
        t = self._tick("noise", t)
        first = self.image_denoiser is not None and self.detect_on == "denoised"
        if first:  # denoise the whole image, then detect on what the descriptor will see
            img8 = self.image_denoiser(img8)
            t = self._tick("denoise", t)
        kps = detect(img8, self.detector, self.max_keypoints)
        t = self._tick("detect", t)
        if self.image_denoiser is not None and not first and len(kps):
            img8 = self.image_denoiser(img8)
            t = self._tick("denoise", t)
        patches = cut_patches(img8, kps)
        t = self._tick("patches", t)
        if self.image_denoiser is None and self.pipe.denoiser is not None:
            patches = self.pipe.denoise(patches)
            t = self._tick("denoise", t)
        desc = self.pipe.describe(patches, denoise=False) if len(kps) else np.zeros((0, self.dim), np.float32)
        self._tick("describe", t)
        return Features(kps.xy, kps.response, desc)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_+-]+", "_", text).strip("_") or "x"


def _descriptor_params(sets: Iterable[str], roles: tuple[str, ...] = ("descriptor",)) -> dict:
    """``descriptor.P=V`` items as ``{P: V}``; with ``roles`` also naming ``denoiser``, ``{role: {P: V}}``."""
    from hpdesc.config import parse_role_sets

    hint = f"features take {' or '.join(f'{r}.PARAM=VALUE' for r in roles)} (for --{roles[-1]} NAME)"
    out = parse_role_sets(sets, roles, hint)
    return {r: out.get(r, {}) for r in roles} if len(roles) > 1 else out.get("descriptor", {})


def make_extractor(*, run=None, descriptor: str | None = None, detector: str = "sift", max_keypoints: int = 2048,
                   sets: Iterable[str] = (), noise: str | None = None, seed: int = 0,
                   whole_image: bool | None = None, denoiser: str | None = None,
                   detect_on: str | None = None, detect_on_if_denoised: bool = False) -> FeatureExtractor:
    """A :class:`FeatureExtractor` for a trained run or a named descriptor (exactly one of them).

    ``run``: a run directory, or a run loaded by :func:`hpdesc.load_run` (its denoiser and
    descriptor). ``descriptor``: a registered descriptor name (``sift``, ``raw``, a plugin's),
    no denoiser; ``sets``: its parameters as ``descriptor.PARAM=VALUE``. ``detector``: ``sift``
    (default), ``orb``, ``akaze`` (where OpenCV has it). ``max_keypoints``: the strongest kept.
    ``noise``: None or ``e`` / ``h`` / ``t``: hpdesc's noise at that level added to the whole
    image before detection (seeded by ``seed`` and the image). ``whole_image``: run a fully
    convolutional run denoiser once over the image instead of per patch (None: the measured
    default, :data:`WHOLE_IMAGE_DEFAULT`; True for another denoiser is refused). ``denoiser``: a
    registry denoiser (``nlmeans``, ``median``, a plugin's ``bm3d``; ``none``) in front of the named
    ``descriptor`` (a classical pipeline; its parameters as ``denoiser.PARAM=VALUE`` in ``sets``); a
    numpy denoiser or a fully convolutional one runs on the whole image, another one per patch.
    ``detect_on``: ``denoised`` or ``noisy``, where keypoints are detected when a denoiser runs on
    the whole image (None: :data:`DETECT_ON_DEFAULT`); given for a pipeline without one it is an
    error, unless ``detect_on_if_denoised`` (a caller building several methods, which checks that
    one of them used it).
    """
    from hpdesc.inference.pipeline import Pipeline

    opts = extractor_options(detector, max_keypoints, noise)
    noise = opts["noise"]
    if (run is None) == (descriptor is None):
        raise UsageError("give exactly one of --run RUN_DIR and --descriptor NAME",
                         hint="e.g. --descriptor sift, or --run runs/<run>")
    if detect_on is not None and detect_on not in DETECT_ON:
        raise UsageError(f"unknown detect_on {detect_on!r}; use {' or '.join(DETECT_ON)}")
    if denoiser in ("none", "identity"):
        denoiser = None
    sets = list(sets)
    den_model = den_name = None
    if descriptor is not None:
        from hpdesc.validate import build_checked

        params = _descriptor_params(sets, ("denoiser", "descriptor") if denoiser else ("descriptor",))
        den_params, params = (params["denoiser"], params["descriptor"]) if denoiser else ({}, params)
        desc_model = build_checked("descriptor", descriptor, params)
        given = sorted(params.items())
        name = f"{descriptor} ({', '.join(f'{k}={v}' for k, v in given)})" if given else descriptor
        method = _slug(descriptor + "".join(f"-{k}_{v}" for k, v in given))
        if denoiser:
            den_model, den_name = build_checked("denoiser", denoiser, den_params), denoiser
            dgiven = sorted(den_params.items())
            name = f"{denoiser}{' (' + ', '.join(f'{k}={v}' for k, v in dgiven) + ')' if dgiven else ''}+{name}"
            method = _slug(denoiser + "".join(f"-{k}_{v}" for k, v in dgiven)) + "+" + method
    else:
        if denoiser is not None:
            raise UsageError(f"--denoiser {denoiser} cannot take effect with a run: the run's own denoiser is used",
                             hint="a named denoiser goes in front of a named --descriptor")
        if sets:
            raise UsageError(f"--set {sets[0]!r} cannot take effect: the run's trained models are used as they are")
        if isinstance(run, (str, Path)):
            from hpdesc.training.load import load_run

            run = load_run(run)
        if run.descriptor is None:
            raise UsageError(f"{run.run.path}: a denoiser-only run has no descriptor to describe keypoints with")
        den_model, desc_model = run.denoiser, run.descriptor
        cfg = run.config
        den_name = cfg.denoiser.name
        label = f"{cfg.denoiser.name}+{cfg.descriptor.name}" if den_model is not None else cfg.descriptor.name
        name = f"{label} (run {run.run.path.name})"
        method = f"hpdesc-{_slug(run.run.path.name)}"
    pipe = Pipeline(den_model, desc_model)
    image_denoiser = None
    if pipe.denoiser is not None:
        from hpdesc.inference.wholeimage import fully_convolutional_names, image_denoiser_for

        capable = image_denoiser_for(pipe.denoiser, den_name)  # declared by the component
        if whole_image and capable is None:
            raise UsageError(f"denoiser {den_name!r} cannot run on whole images (only "
                             f"{', '.join(fully_convolutional_names())} and the classical denoisers); "
                             "leave whole_image unset")
        if capable is not None and (WHOLE_IMAGE_DEFAULT if whole_image is None else whole_image):
            image_denoiser = capable
    elif whole_image:
        raise UsageError("whole_image needs a pipeline with a denoiser; this one has none")
    if detect_on is not None and image_denoiser is None and detect_on_if_denoised:
        detect_on = None
    if detect_on is not None and image_denoiser is None:
        raise UsageError(f"detect_on={detect_on!r} cannot take effect: no denoiser runs on the whole image here",
                         hint="it applies to a whole-image denoiser (a run's dncnn/unet/ffdnet, --denoiser nlmeans, ...)")
    if image_denoiser is not None and (detect_on or DETECT_ON_DEFAULT) != DETECT_ON_DEFAULT:
        name, method = f"{name} detect-{detect_on}", f"{method}-detect_{detect_on}"
    if detector != "sift":
        name, method = f"{name} @{detector}", f"{method}-{detector}"
    if noise:
        name, method = f"{name} noise {noise}", f"{method}-noise_{noise}"
    return FeatureExtractor(name, method, pipe, detector=detector, max_keypoints=opts["max_keypoints"], noise=noise,
                            seed=seed, image_denoiser=image_denoiser, detect_on=detect_on or DETECT_ON_DEFAULT)


__all__ = ["DETECT_ON", "DETECT_ON_DEFAULT", "FeatureExtractor", "NOISE_LEVELS", "WHOLE_IMAGE_DEFAULT", "add_noise",
           "check_noise", "extractor_options",
           "make_extractor"]
