"""Score keypoint features on HPatches sequences: MMA and homography accuracy, exactly per the protocol.

The protocol is ``../shared/docs/image-matching-protocol.md`` (D2-Net's MMA, SuperPoint's
homography accuracy). For each sequence and each k in 2..6 (a *pair*): mutual nearest
neighbours of the L2 descriptors of image 1 and image k (:func:`hpdesc.matching.match.mutual_nn`);
each match's keypoint in image 1 is projected with ``H_1_k`` and compared with its keypoint in
image k; the pair's accuracy at t px is the fraction of its matches within t (0 for a pair with no
match). MMA@t is the mean over the pairs of a group (``i``, ``v``) and over all pairs
(``overall``); beside it, the mean number of *correct matches* per pair (matches within t px; MMA
alone rewards a method that matches less). Homography: ``cv2.findHomography`` with ``cv2.USAC_MAGSAC`` (threshold
:data:`HOMOGRAPHY_THRESHOLD` px) on the matches; the pair's error is the mean distance between the
four corners ``(0,0), (w,0), (w,h), (0,h)`` of image 1 warped by the estimate and by ``H_1_k``; a
pair with no estimate (fewer than 4 matches, or OpenCV finds none) is a failure (infinite error).

A *method* is either a precomputed feature name (``<image>.<method>`` files beside the images,
:mod:`hpdesc.matching.features`) or a :class:`FeatureExtractor` (``.name`` and
``__call__(image) -> Features``, image = grey float32 ``(H, W)`` in [0, 1]).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Protocol, Sequence, Union, runtime_checkable

import numpy as np

from hpdesc.data.sequences import find_sequences, image_file, image_shape, read_homography, read_image
from hpdesc.errors import DataFormatError, UsageError
from hpdesc.matching.features import Features, feature_path, load_features
from hpdesc.matching.match import HOMOGRAPHY_METHOD, HOMOGRAPHY_THRESHOLD, estimate_homography, mutual_nn
from hpdesc.progress import Reporter

THRESHOLDS = tuple(range(1, 11))
"""MMA thresholds in pixels (the curve's x axis)."""
CORNER_THRESHOLDS = (1, 3, 5)
"""Homography accuracy: share of pairs whose mean corner error is at most this many pixels."""
HOMOGRAPHY_ESTIMATOR = f"cv2.{HOMOGRAPHY_METHOD}"
GROUPS = ("i", "v", "overall")
D2NET_EXCLUDED = ("i_contruction", "i_crownnight", "i_dc", "i_pencils", "i_whitebuilding",
                  "v_artisans", "v_astronautis", "v_talent")
"""The 8 sequences with images larger than 1600x1200 that the D2-Net evaluation leaves out."""
PHASES = ("read", "features", "matching", "homography")


@runtime_checkable
class FeatureExtractor(Protocol):
    """Anything that turns an image into features: ``name`` and ``__call__(image) -> Features``.

    ``image`` is grey float32 ``(H, W)`` in [0, 1] (as :func:`hpdesc.data.sequences.read_image`
    returns it). ``hpdesc.matching.extract.make_extractor`` builds them from runs and descriptors.
    """

    name: str

    def __call__(self, image: np.ndarray) -> Features: ...


Method = Union[str, FeatureExtractor]


@dataclasses.dataclass
class PairResult:
    """One pair (image 1 vs image k of a sequence)."""

    sequence: str
    k: int
    keypoints: tuple[int, int]
    matches: int
    accuracy: np.ndarray  # (10,) fraction of matches within 1..10 px
    corner_error: float  # mean corner distance in px; inf when no homography was estimated

    @property
    def correct(self) -> np.ndarray:
        """Number of matches within 1..10 px (``accuracy x matches``, rounded). Shape: ``(10,)``."""
        return np.rint(np.asarray(self.accuracy, np.float64) * self.matches)

    @property
    def group(self) -> str:
        return self.sequence[0]


@dataclasses.dataclass
class ImageMatchingResult:
    """The scores of one method on one sequence folder (see :meth:`to_dict` for the JSON)."""

    method: str
    source: str  # "features" (precomputed files) or "extractor"
    seq_dir: str
    sequences: list[str]
    pairs: list[PairResult]
    keypoints_per_image: dict[str, list[int]]  # sequence -> keypoints of images 1..6
    seconds: dict[str, float]
    d2net_subset: bool = False
    dropped: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def _pairs(self, group: str) -> list[PairResult]:
        return self.pairs if group == "overall" else [p for p in self.pairs if p.group == group]

    def mma(self, group: str = "overall") -> np.ndarray | None:
        """MMA at 1..10 px over the group's pairs (None when it has none)."""
        pairs = self._pairs(group)
        if not pairs:
            return None
        return np.sum([p.accuracy for p in pairs], axis=0) / len(pairs)

    def n_pairs(self, group: str = "overall") -> int:
        return len(self._pairs(group))

    def zero_match_pairs(self, group: str = "overall") -> int:
        return sum(p.matches == 0 for p in self._pairs(group))

    def mean_matches(self, group: str = "overall") -> float | None:
        pairs = self._pairs(group)
        return float(np.mean([p.matches for p in pairs])) if pairs else None

    def correct_matches(self, group: str = "overall") -> np.ndarray | None:
        """Mean number of correct matches per pair (within 1..10 px) over the group's pairs (None when it has none).

        MMA is a precision and rewards a method that matches less; this counts what is left to use.
        A pair without matches counts 0.
        """
        pairs = self._pairs(group)
        if not pairs:
            return None
        return np.sum([p.correct for p in pairs], axis=0) / len(pairs)

    def mean_keypoints(self, group: str = "overall") -> float | None:
        counts = [n for s, ns in self.keypoints_per_image.items() if group == "overall" or s[0] == group for n in ns]
        return float(np.mean(counts)) if counts else None

    def homography(self, group: str = "overall") -> dict[str, Any]:
        """Share of pairs with corner error <= 1 / 3 / 5 px, median error (None if infinite), failures."""
        errs = np.array([p.corner_error for p in self._pairs(group)], dtype=np.float64)
        if errs.size == 0:
            return {"shares": {str(t): None for t in CORNER_THRESHOLDS}, "median_error": None, "failures": 0}
        med = float(np.median(errs))
        return {"shares": {str(t): float(np.mean(errs <= t)) for t in CORNER_THRESHOLDS},
                "median_error": med if math.isfinite(med) else None,
                "failures": int(np.sum(~np.isfinite(errs)))}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: per group the MMA curve (ten numbers, 1..10 px), homography shares and counts."""
        groups = {}
        for g in GROUPS:
            m, c = self.mma(g), self.correct_matches(g)
            groups[g] = {"mma": None if m is None else [float(x) for x in m],
                         "correct_matches_per_pair": None if c is None else [float(x) for x in c],
                         "homography": self.homography(g),
                         "pairs": self.n_pairs(g), "pairs_without_matches": self.zero_match_pairs(g),
                         "mean_keypoints_per_image": self.mean_keypoints(g),
                         "mean_matches_per_pair": self.mean_matches(g)}
        return {"method": self.method, "source": self.source, "seq_dir": self.seq_dir,
                "sequences": len(self.sequences), "thresholds_px": list(THRESHOLDS), "groups": groups,
                "homography_estimator": f"{HOMOGRAPHY_ESTIMATOR}, threshold {HOMOGRAPHY_THRESHOLD:g} px",
                "corner_thresholds_px": list(CORNER_THRESHOLDS), "d2net_subset": self.d2net_subset,
                "dropped": list(self.dropped), "seconds": dict(self.seconds), "notes": list(self.notes)}


# --- one pair: pure functions -------------------------------------------------------------------

def project(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Points ``(N, 2)`` mapped by ``H`` (homogeneous, divided by the third coordinate)."""
    p = np.c_[np.asarray(pts, np.float64), np.ones(len(pts))] @ np.asarray(H, np.float64).T
    with np.errstate(divide="ignore", invalid="ignore"):
        return p[:, :2] / p[:, 2:]


def match_distances(kp1: np.ndarray, kpk: np.ndarray, matches: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Distance (px) between each matched keypoint of image 1 projected by ``H`` and its partner in image k."""
    if len(matches) == 0:
        return np.zeros(0)
    d = np.linalg.norm(project(H, kp1[matches[:, 0]]) - kpk[matches[:, 1]], axis=1)
    return np.where(np.isnan(d), np.inf, d)


def pair_accuracy(distances: np.ndarray, thresholds: Sequence[float] = THRESHOLDS) -> np.ndarray:
    """Fraction of matches within each threshold; all zeros for a pair without matches."""
    if len(distances) == 0:
        return np.zeros(len(thresholds))
    return np.array([np.mean(distances <= t) for t in thresholds], dtype=np.float64)


def corner_error(H_est: np.ndarray | None, H_true: np.ndarray, width: int, height: int) -> float:
    """Mean distance (px) of image 1's corners ``(0,0), (w,0), (w,h), (0,h)`` warped by both; inf without an estimate."""
    if H_est is None:
        return math.inf
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    err = float(np.mean(np.linalg.norm(project(H_est, corners) - project(H_true, corners), axis=1)))
    return err if math.isfinite(err) else math.inf


# --- a sequence folder ----------------------------------------------------------------------------

def method_name(method: Method) -> str:
    if isinstance(method, str):
        return method
    name = getattr(method, "name", None)
    if not isinstance(name, str) or not callable(method):
        raise UsageError(f"not a feature method: {method!r}",
                         hint="give a feature file name (str) or an object with .name and __call__(image) -> Features")
    return name


def select_sequences(seq_dir, d2net_subset: bool = False) -> tuple[list[Path], list[str]]:
    """The sequence folders to evaluate and, with ``d2net_subset``, the names left out."""
    folders = find_sequences(seq_dir)
    dropped = [f.name for f in folders if d2net_subset and f.name in D2NET_EXCLUDED]
    folders = [f for f in folders if f.name not in dropped]
    if not folders:
        raise UsageError(f"{seq_dir}: no sequence left once the D2-Net subset drops {', '.join(dropped)}")
    return folders, dropped


def check_inputs(folders: Sequence[Path], methods: Sequence[Method]) -> None:
    """Fail before any work: every image and ``H_1_k`` present and readable, every feature file present."""
    from hpdesc.data.budget import check_pixels

    decodes = any(not isinstance(m, str) for m in methods)  # precomputed features never decode the images
    for f in folders:
        for k in range(1, 7):
            path = image_file(f, k)
            if decodes:
                check_pixels(path)  # from the header: a huge image is refused before any work
        for k in range(2, 7):
            read_homography(f / f"H_1_{k}")
    for m in methods:
        if isinstance(m, str):
            if not m or "/" in m or "\\" in m:
                raise UsageError(f"--features {m!r}: a method name is the suffix of <image>.<method> files, not a path")
            missing = [feature_path(image_file(f, k), m) for f in folders for k in range(1, 7)]
            missing = [p for p in missing if not p.is_file()]
            if missing:
                more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
                raise DataFormatError(f"no feature file {missing[0]}{more} for method {m!r}",
                                      hint="files are named <image>.<method> beside the images; "
                                           "write them with `hpdesc features` or the other tool")
        else:
            method_name(m)


def _features(folder: Path, k: int, method: Method, seconds: dict[str, float]) -> tuple[Features, str]:
    """Features of image k and what to call them in messages (a file or an image)."""
    img_path = image_file(folder, k)
    if isinstance(method, str):
        t0 = time.perf_counter()
        path = feature_path(img_path, method)
        feats = load_features(path)
        seconds["features"] += time.perf_counter() - t0
        return feats, str(path)
    t0 = time.perf_counter()
    image = read_image(img_path)
    t1 = time.perf_counter()
    feats = method(image)
    seconds["read"] += t1 - t0
    seconds["features"] += time.perf_counter() - t1
    if not isinstance(feats, Features):
        raise DataFormatError(f"feature extractor {method_name(method)!r} returned {type(feats).__name__}, not Features")
    return feats, f"{img_path} ({method_name(method)})"


def evaluate(seq_dir, method: Method, *, d2net_subset: bool = False, homography_threshold: float = HOMOGRAPHY_THRESHOLD,
             reporter: Reporter | None = None, check: bool = True) -> ImageMatchingResult:
    """Score one method on an ``hpatches-sequences-release`` folder (MMA and homography accuracy).

    ``method``: a feature method name (``<image>.<method>`` files) or a :class:`FeatureExtractor`.
    ``d2net_subset``: leave out :data:`D2NET_EXCLUDED` (noted in the result). Missing images,
    homographies or feature files are reported before any work; a feature file without a field, or
    two images of a pair with different descriptor widths, is a :class:`DataFormatError` naming them.
    ``check=False`` skips the up-front check (done by the caller for all its methods at once).
    """
    if not homography_threshold > 0:
        raise UsageError(f"homography threshold must be positive, got {homography_threshold}")
    name = method_name(method)
    folders, dropped = select_sequences(seq_dir, d2net_subset)
    if check:  # callers that ran check_inputs over all their methods already pass False
        check_inputs(folders, [method])
    reporter = reporter or Reporter()
    seconds = {p: 0.0 for p in PHASES}
    pairs: list[PairResult] = []
    kp_counts: dict[str, list[int]] = {}
    reporter.start(f"{name}: sequences", len(folders))
    for folder in folders:
        f1, where1 = _features(folder, 1, method, seconds)
        h1, w1 = image_shape(image_file(folder, 1))
        counts = [len(f1)]
        for k in range(2, 7):
            H = read_homography(folder / f"H_1_{k}")
            fk, wherek = _features(folder, k, method, seconds)
            counts.append(len(fk))
            if len(f1) and len(fk) and f1.dim != fk.dim:
                raise DataFormatError(f"descriptor widths differ: {where1} has {f1.dim}, {wherek} has {fk.dim}",
                                      hint="both images of a pair must be described by the same descriptor")
            t0 = time.perf_counter()
            matches = mutual_nn(f1.descriptors, fk.descriptors)
            dist = match_distances(f1.keypoints, fk.keypoints, matches, H)
            acc = pair_accuracy(dist)
            t1 = time.perf_counter()
            H_est, _ = estimate_homography(f1.keypoints[matches[:, 0]], fk.keypoints[matches[:, 1]], homography_threshold)
            err = corner_error(H_est, H, w1, h1)
            seconds["matching"] += t1 - t0
            seconds["homography"] += time.perf_counter() - t1
            pairs.append(PairResult(folder.name, k, (len(f1), len(fk)), len(matches), acc, err))
        kp_counts[folder.name] = counts
        reporter.advance(1)
    reporter.done()
    notes = _notes(pairs, kp_counts, dropped, d2net_subset)
    if isinstance(method, str):
        seconds.pop("read")  # nothing is decoded for precomputed features
    return ImageMatchingResult(name, "features" if isinstance(method, str) else "extractor", str(seq_dir),
                               [f.name for f in folders], pairs, kp_counts, seconds, d2net_subset, dropped, notes)


def _notes(pairs: list[PairResult], kp_counts: dict[str, list[int]], dropped: list[str], subset: bool) -> list[str]:
    notes = []
    if subset:
        notes.append(f"D2-Net subset: left out {len(dropped)} of the 8 sequences with images over 1600x1200"
                     + (f" ({', '.join(dropped)})" if dropped else " (none of them is in this folder)"))
    empty = [f"{s}/{k + 1}" for s, ns in kp_counts.items() for k, n in enumerate(ns) if n == 0]
    if empty:
        notes.append(f"{len(empty)} image(s) without keypoints: {', '.join(empty[:6])}" + (" ..." if len(empty) > 6 else ""))
    zero = [f"{p.sequence} 1-{p.k}" for p in pairs if p.matches == 0]
    if zero:
        notes.append(f"{len(zero)} of {len(pairs)} pairs without matches (accuracy 0, homography failed): "
                     + ", ".join(zero[:6]) + (" ..." if len(zero) > 6 else ""))
    return notes
