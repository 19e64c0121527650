"""The image-path commands behind the API: benchmark images, keypoint features, matching two images.

Options are checked by the functions that use them (:func:`hpdesc.matching.extract.extractor_options`,
:func:`hpdesc.matching.match.check_ratio`) before any work; here only what a command adds: which
methods a ``--compare`` item names, settings that cannot take effect, outputs writable first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from hpdesc.atomic import check_writable, refuse_inputs, same_file
from hpdesc.errors import UsageError
from hpdesc.progress import Reporter
from hpdesc.training.run import run_inputs


def _as_list(x) -> list:
    return [] if x is None else list(x) if isinstance(x, (list, tuple)) else [x]


def _compare_kind(item, first_sequence: Path) -> str:
    """What a ``--compare`` item is: ``run`` (an existing folder), ``features`` (``1.<ext>.<item>`` files
    exist in the first sequence) or ``descriptor`` (a descriptor name, checked when it is built)."""
    from hpdesc.data.sequences import image_file
    from hpdesc.matching.features import feature_path

    if not isinstance(item, str):
        return "run"
    if Path(item).is_dir():
        return "run"
    if "/" in item or "\\" in item:  # a path, not a name: a run folder that is not there
        raise UsageError(f"--compare {item}: no such run folder")
    if feature_path(image_file(first_sequence, 1), item).is_file():
        return "features"
    return "descriptor"


def image_methods(seq_dir, *, features=(), run=(), descriptor=(), compare=()) -> tuple[list[str], list[Path], list[str]]:
    """``(feature methods, runs, descriptors)`` of :func:`benchmark_images`, with each ``compare`` item
    sorted in: an existing folder is a run, a name with feature files beside image 1 of the first
    sequence is precomputed features, anything else a descriptor name."""
    from hpdesc.data.sequences import find_sequences

    feature_methods = [str(m) for m in _as_list(features)]
    runs, descs = [Path(r) for r in _as_list(run)], [str(d) for d in _as_list(descriptor)]
    items = _as_list(compare)
    first = find_sequences(seq_dir)[0] if items else None
    for item in items:
        kind = _compare_kind(item, first)
        if kind == "run":
            runs.append(Path(item))
        else:
            (feature_methods if kind == "features" else descs).append(str(item))
    return feature_methods, runs, descs


def benchmark_images(seq_dir, *, features=(), run=(), descriptor=(), extractors=(), compare=(),
                     detector: str | None = None, max_keypoints: int | None = None, noise: str | None = None,
                     sets: Iterable[str] = (), seed: int | None = None, d2net_subset: bool = False,
                     denoiser=(), detect_on: str | None = None, json=None, plot=None, reporter: Reporter) -> list:
    """:func:`hpdesc.api.benchmark_images` (its docstring has the arguments)."""
    from hpdesc.matching import evaluate as E

    for target in (json, plot):
        if target is not None:
            check_writable(target)
    folders, _dropped = E.select_sequences(seq_dir, d2net_subset)
    # the sequence folders' files (images, H_1_k, feature files) are inputs; a report beside them is not
    refuse_inputs([json, plot], [*folders, *(f for r in _as_list(run) for f in run_inputs(r))])
    feature_methods, runs, descs = image_methods(seq_dir, features=features, run=run, descriptor=descriptor,
                                                 compare=compare)
    given = _as_list(extractors)
    if not (feature_methods or runs or descs or given):
        raise UsageError("nothing to benchmark: give --features METHOD, --run RUN or --descriptor NAME",
                         hint="e.g. hpdesc benchmark images seqs --descriptor sift")
    settings = {"--detector": detector, "--max-keypoints": max_keypoints, "--noise": noise, "--seed": seed,
                "--set": list(sets) or None, "--detect-on": detect_on}
    denoisers = [str(d) for d in _as_list(denoiser)]
    if denoisers and not descs:
        raise UsageError("--denoiser needs --descriptor NAME: a named denoiser goes in front of a named descriptor",
                         hint="a run uses its own denoiser; e.g. --denoiser nlmeans --descriptor sift")
    if not (runs or descs):
        for flag, value in settings.items():
            if value is not None:
                why = ("precomputed --features cannot be re-noised" if flag == "--noise"
                       else "it applies to features computed here")
                raise UsageError(f"{flag} needs --run or --descriptor: {why}",
                                 hint="compute features with hpdesc (--run RUN / --descriptor NAME) to use it")
    kw = {"detector": detector or "sift", "max_keypoints": 2048 if max_keypoints is None else max_keypoints,
          "noise": noise}
    if runs or descs:  # checked by the extractor's own rules, before any work
        from hpdesc.matching.extract import extractor_options

        kw = extractor_options(**kw)
    E.check_inputs(folders, feature_methods + given)  # missing images, H_1_k or feature files: before any work

    built = []
    if runs or descs:
        from hpdesc.matching.extract import make_extractor

        # --detect-on acts on the methods with a whole-image denoiser (that one does is checked below)
        kw.update(sets=tuple(sets), seed=0 if seed is None else int(seed), detect_on=detect_on,
                  detect_on_if_denoised=True)
        built = ([make_extractor(run=r, **kw) for r in runs]
                 + [make_extractor(descriptor=d, denoiser=n, **kw) for n in (denoisers or [None]) for d in descs])
        if detect_on is not None and not any(b.image_denoiser is not None for b in built):
            raise UsageError(f"--detect-on {detect_on} cannot take effect: no method denoises the whole image",
                             hint="add --denoiser nlmeans (for --descriptor), or a run with a dncnn/unet/ffdnet denoiser")
    methods = feature_methods + built + given
    results = [E.evaluate(seq_dir, m, d2net_subset=d2net_subset, reporter=reporter, check=False) for m in methods]
    if kw["noise"] is not None:
        for r, m in zip(results, methods):
            if any(m is b for b in built):
                r.notes.append(f"noise level {noise!r} added to the whole images before detection")
    names = [r.method for r in results]
    for r in results:  # the same name twice (sift features files and the sift descriptor): say which is which
        if names.count(r.method) > 1:
            r.method = f"{r.method} ({r.source})"
    if json is not None or plot is not None:
        from hpdesc.matching import report

        if json is not None:
            report.write_json(results, json)
        if plot is not None:
            report.plot_mma(results, plot)
    return results


def _image_list(images) -> list[Path]:
    items = [images] if isinstance(images, (str, Path)) else list(images)
    if not items:
        raise UsageError("no images given")
    return [Path(p) for p in items]


def _read_image(path: Path):
    """A grey float32 image; a missing or unreadable file is one line naming it."""
    from hpdesc.data.sequences import read_image
    from hpdesc.errors import DataFormatError

    if not path.is_file():
        raise UsageError(f"{path}: no such image file")
    img = read_image(path)
    if img.ndim != 2 or min(img.shape) < 1:
        raise DataFormatError(f"{path}: not a usable image (shape {img.shape})")
    return img


def _read_images(paths: list[Path]) -> None:
    """Read every image once before any work, so a bad one stops the command with nothing written."""
    for p in paths:
        _read_image(p)


def _extractor(run, descriptor, detector, max_keypoints, sets, noise, seed, whole_image, denoiser, detect_on):
    from hpdesc.matching.extract import make_extractor

    return make_extractor(run=run, descriptor=descriptor, detector=detector, max_keypoints=max_keypoints,
                          sets=sets, noise=noise, seed=seed, whole_image=whole_image, denoiser=denoiser,
                          detect_on=detect_on)


def features(images, *, run=None, descriptor: str | None = None, detector: str = "sift",
             max_keypoints: int = 2048, out=None, noise: str | None = None, seed: int = 0,
             sets: Iterable[str] = (), whole_image: bool | None = None, denoiser: str | None = None,
             detect_on: str | None = None, reporter: Reporter) -> dict:
    """:func:`hpdesc.api.features` (its docstring has the arguments)."""
    from hpdesc.matching.features import feature_path, save_features

    paths = _image_list(images)
    if out is not None:
        check_writable(out, folder=True)
        seen: dict[str, Path] = {}
        for p in paths:  # seqs/i_a/1.ppm and seqs/v_b/1.ppm would both write OUT/1.ppm.<method>
            if p.name in seen and seen[p.name].resolve() != p.resolve():
                raise UsageError(f"{seen[p.name]} and {p} would both write {Path(out) / p.name}.<method>",
                                 hint="leave out --out to write each file beside its image")
            seen[p.name] = p
    _read_images(paths)
    ext = _extractor(run, descriptor, detector, max_keypoints, sets, noise, seed, whole_image, denoiser, detect_on)
    refuse_inputs([feature_path(p, ext.method, out) for p in paths], [*paths, *run_inputs(run)])
    reporter.start(f"features ({ext.name})", len(paths))
    rows, notes = [], []
    new_folder = out is not None and not Path(out).exists()
    try:
        for p in paths:
            feats = ext(_read_image(p))
            if not len(feats):
                notes.append(f"{p}: no keypoints found (an empty feature file was written)")
            target = save_features(feature_path(p, ext.method, out), feats)
            rows.append({"image": p, "path": target, "keypoints": len(feats), "dim": feats.dim})
            reporter.advance(1)
    except BaseException:
        if new_folder:  # a failure (a full disk) leaves no output folder behind, empty or half-filled
            import shutil

            shutil.rmtree(out, ignore_errors=True)
        raise
    reporter.done()
    return {"name": ext.name, "method": ext.method, "files": rows, "notes": notes, "timings": dict(ext.timings)}


def match(image1, image2, *, run=None, descriptor: str | None = None, detector: str = "sift",
          max_keypoints: int = 2048, ratio: float | None = None, threshold: float = 3.0,
          noise: str | None = None, seed: int = 0, sets: Iterable[str] = (), whole_image: bool | None = None,
          denoiser: str | None = None, detect_on: str | None = None, out=None, json=None) -> dict:
    """:func:`hpdesc.api.match` (its docstring has the arguments)."""
    import numpy as np

    from hpdesc.atomic import write_json_atomic
    from hpdesc.matching.match import HOMOGRAPHY_METHOD, check_ratio, match_pair

    check_ratio(ratio)
    if not float(threshold) > 0:
        raise UsageError(f"threshold must be a positive number of pixels, got {threshold}")
    for target in (out, json):
        if target is not None:
            check_writable(target)
    paths = [Path(image1), Path(image2)]
    refuse_inputs([out, json], [*paths, *run_inputs(run)])
    if out is not None and json is not None and same_file(out, json):
        raise UsageError(f"--out {out} and --json {json} are the same file; give two paths")
    images = [_read_image(p) for p in paths]
    ext = _extractor(run, descriptor, detector, max_keypoints, sets, noise, seed, whole_image, denoiser, detect_on)
    f1, f2 = (ext(img) for img in images)
    res = match_pair(f1, f2, ratio, threshold)
    m, inl, H = res["matches"], res["inliers"], res["H"]
    notes = [f"{p}: no keypoints found" for p, f in zip(paths, (f1, f2)) if not len(f)]
    if not len(m):
        notes.append("no matches: nothing to estimate a homography from")
    elif H is None:
        notes.append(f"no homography: {len(m)} matches, at least 4 needed" if len(m) < 4
                     else "no homography: the robust estimator found none")
    if out is not None:
        from hpdesc.matching.draw import draw_matches, write_png

        shown = [ext.input_image(img) for img in images]  # what the detector saw (with --noise)
        write_png(out, draw_matches(shown[0], shown[1], f1.keypoints, f2.keypoints, m, inl, title=ext.name))
    if json is not None:
        write_json_atomic(json, {
            "image1": str(paths[0]), "image2": str(paths[1]), "method": ext.name,
            "detector": detector, "max_keypoints": int(max_keypoints), "noise": noise, "ratio": ratio,
            "estimator": HOMOGRAPHY_METHOD, "threshold": float(threshold),
            "keypoints1": f1.keypoints.tolist(), "keypoints2": f2.keypoints.tolist(),
            "matches": m.tolist(), "inliers": inl.astype(bool).tolist(),
            "H": None if H is None else np.asarray(H).tolist(), "notes": notes})
    return {"name": ext.name, "keypoints": (len(f1), len(f2)), "matches": int(len(m)), "inliers": int(inl.sum()),
            "H": H, "notes": notes, "features": (f1, f2), "match": res, "timings": dict(ext.timings)}


__all__ = ["benchmark_images", "features", "image_methods", "match"]
