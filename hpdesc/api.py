"""The Python API, mirroring the CLI: one function per command, each mapping its arguments.

Example (a notebook)::

    import hpdesc
    result = hpdesc.train(denoiser="dncnn", descriptor="hardnet", epochs=2)
    print(result.benchmark.results[0].headline)
    hpdesc.describe(run=result.run_dir, out="desc.h5")

Each function has every option of its CLI command in its signature and docstring and maps them
onto the domain function that checks and does the work (:mod:`hpdesc.training.start`,
:mod:`hpdesc.commands.patches`, :mod:`hpdesc.benchmark.evaluate`,
:mod:`hpdesc.commands.images`, :mod:`hpdesc.export`). The names are the package's
(``hpdesc.evaluate``, ``hpdesc.evaluate_denoising``, ``hpdesc.export_run``: ``hpdesc.benchmark``
and ``hpdesc.export`` are subpackages); ``api.benchmark``, ``api.benchmark_denoise`` and
``api.export``, their names in hpdesc 0.2.0, stay as aliases of the same functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from hpdesc import config as C
from hpdesc.atomic import check_writable, refuse_inputs
from hpdesc.data.budget import applies_max_pixels
from hpdesc.errors import UsageError
from hpdesc.inference.datasets import default_data_path
from hpdesc.progress import Reporter
from hpdesc.training.load import LoadedRun
from hpdesc.training.run import RunDir, default_run, run_inputs
from hpdesc.training.run import latest_run as _latest
from hpdesc.training.start import resolve_config


def _reporter(progress) -> Reporter:
    return progress if progress is not None else Reporter()


def _commands():
    from hpdesc.commands import patches as commands

    return commands


def train(config=None, *, sets: Iterable[str] = (), out=None, resume=None, progress=None,
          max_epochs_this_session: int | None = None, **flags):
    """Train a denoiser and/or a descriptor, benchmark them, and return a RunResult.

    ``config``: a TOML path, a dict or a RunConfig; ``sets``: ``"KEY=VALUE"`` strings; ``flags``:
    ``denoiser``, ``descriptor`` (``"none"``: train a denoiser alone; left out next to
    ``denoiser``, with no ``config`` or set naming one, it is ``"none"``), ``skip_denoiser``,
    ``denoiser_loss``, ``descriptor_loss``, ``denoiser_optimizer``, ``descriptor_optimizer``,
    ``data``, ``split``, ``descriptor_input``, ``seed``, ``precision``, ``epochs``, ``batch_size``,
    ``distribute`` (``none``, ``mirrored``, ``multi-worker``: docs/scaling.md), ``init`` (initial
    weights: a run directory, a ``.keras`` file or a PyTorch HardNet ``.pth``; docs/interop.md).
    ``resume``: a run directory to continue (its config is used; any other setting is refused).
    ``out``: the run directory (default ``runs/<timestamp>-<denoiser>-<descriptor>``).
    """
    from hpdesc.training.start import start_training

    return start_training(config, sets=sets, out=out, resume=resume, reporter=_reporter(progress),
                          max_epochs_this_session=max_epochs_this_session, **flags)


# -- runs -------------------------------------------------------------------------------------------
def load_model(path):
    """Load a saved hpdesc model (a run's ``denoiser.keras`` / ``descriptor.keras``) as a Keras model.

    Registers hpdesc's layers and imports the plugins the model needs first: the components a run
    recorded when the file is in a run directory (a missing plugin is a PluginError naming the
    distribution to install), else every installed denoiser and descriptor plugin. The model comes
    back as saved (a run's default precision computes in bfloat16).
    """
    from hpdesc.training.load import load_model as _load

    return _load(path)


def load_weights(model, path):
    """Fill a built ``model`` with the weights in ``path``; returns ``model`` (docs/interop.md).

    ``path``: a PyTorch HardNet / SOSNet checkpoint (``.pth``: kornia's or the original HardNet
    repository's layout; needs torch, ``pip install "hpdesc[interop]"``) for hpdesc's ``hardnet``
    built with the parameters the checkpoint needs (``hpdesc.models.torchmap.hardnet_params``), a
    ``.keras`` file, or a run directory (the model of the same stage). ``hpdesc train --init PATH``
    uses the same resolver.
    """
    from hpdesc.training.init import load_weights as _load

    return _load(model, path)


def load_run(run_dir=None) -> LoadedRun:
    """Load a run's config and models (default: the latest run)."""
    from hpdesc.training.load import load_run as _load

    return _load(run_dir)


def latest_run() -> Path:
    """The most recently trained run: the one ``<runs root>/latest`` names (every run that trains
    and passes its checks updates it, wherever its ``out``), else the newest finished run there."""
    return _latest().path


# -- describe / denoise ----------------------------------------------------------------------------------
def describe_run(run_dir, dataset, split: str | None = None, progress=None) -> Path:
    """Descriptors of the test sequences of ``split`` made with a run (cached in the run directory).

    ``dataset``: path or PatchDataset. Returns the descriptor file's path (``hpdesc.descriptors``).
    """
    return _commands().describe_run(run_dir, dataset, split, _reporter(progress))


def describe(run=None, data=None, out=None, denoiser: str | None = None, descriptor: str | None = None,
             split: str | None = None, kind: str = "noisy", params: Mapping | None = None,
             sets: Iterable[str] = (), progress=None) -> Path:
    """Write descriptors of a dataset (all sequences, or the test sequences of ``split``).

    Models come from ``run`` (a run directory) or from the registry by name (``denoiser``,
    ``descriptor``, e.g. ``descriptor="sift"``; no denoiser by default); a name overrides the
    run's model of that role. ``kind``: which patches to read (``noisy`` or ``clean``).
    ``params``: ``{"descriptor": {...}, "denoiser": {...}}`` factory parameters for named models
    (a parameter for a model taken from the run, or for no model, is refused: it would do nothing);
    ``sets``: the same as ``"descriptor.PARAM=VALUE"`` strings (``--set``), applied after ``params``.
    """
    return _commands().describe(run, data, out, denoiser, descriptor, split, kind, params, sets, _reporter(progress))


def denoise(run=None, data=None, out=None, split: str | None = None, denoiser: str | None = None,
            params: Mapping | None = None, sets: Iterable[str] = (), progress=None) -> dict:
    """Denoise a dataset's noisy patches into an ``hpdesc.denoised`` file.

    ``denoiser``: a registry denoiser by name (``nlmeans``, ``median``, ...) instead of a run's;
    ``params`` / ``sets`` (``"denoiser.h=12"``): its parameters (refused for a run's denoiser).
    Returns ``{"path": ..., "psnr": {"noisy": dB, "denoised": dB}}`` (PSNR against the clean
    patches of the input).
    """
    return _commands().denoise(run, data, out, split, denoiser, params, sets, _reporter(progress))


def export_run(run=None, what: str | None = None, format: str = "onnx", out=None, progress=None):
    """Export a run's trained models as a float32 ONNX file or TensorFlow SavedModel, with a model card.

    ``run``: the run directory (default: the latest run). ``what``: ``descriptor``, ``denoiser``
    or ``pipeline`` (denoiser -> uint8 rounding -> descriptor in one graph; the default for a run
    with a descriptor, else ``denoiser``). ``format``: ``onnx`` (needs ``pip install
    "hpdesc[export]"``) or ``saved_model``. ``out``: the export folder (default
    ``RUN/export/<what>-<format>``; an earlier export there is replaced), which receives
    ``model.onnx`` or the SavedModel's files, and ``MODEL.md``. The graph takes ``patches``
    float32 ``(B, 32, 32, 1)`` in [0, 1]. Returns an :class:`hpdesc.export.ExportResult`
    (docs/deploying.md).
    """
    from hpdesc.export import check_format, check_what, export_run as _export, require_exporters
    from hpdesc.training.start import drop_ignored_params

    check_format(format)  # a typo, a missing extra: one line before the run's models load
    if what is not None:
        check_what(what)
    require_exporters(format)
    reporter = _reporter(progress)
    lr = load_run(default_run(run, reporter))
    drop_ignored_params(lr.config, reporter)
    return _export(lr.run.path, lr.config, lr.denoiser, lr.descriptor, what=what, fmt=format, out=out,
                      reporter=reporter)


def evaluate_denoising(denoisers: Iterable[str] = (), runs: Iterable = (), *, data=None, split: str | None = None,
                      params: Mapping | None = None, sets: Iterable[str] = (), ssim: bool = True,
                      json=None, markdown=None, plot=None, progress=None) -> list:
    """The denoising table (PSNR and SSIM vs clean per noise level, i_/v_, mean) of denoisers and runs.

    ``denoisers``: registry names (``nlmeans``, ``median``, ``identity``, a plugin's ``bm3d``);
    ``runs``: run directories (their trained denoiser); with neither, the latest run. ``data``:
    the patch dataset (default: the first run's, else the embedded one); ``split``: whose test
    sequences are scored (default: the run's split, else the dataset's first; a dataset without
    splits: all sequences). ``params`` ``{name: {...}}`` / ``sets`` (``"nlmeans.h=12"``, or
    ``"denoiser.h=12"`` with one named denoiser): parameters of the named denoisers. ``ssim``:
    False skips SSIM (faster). ``json``, ``markdown``, ``plot``: also write the table there
    (checked before anything is computed). Returns one
    :class:`~hpdesc.benchmark.denoising.DenoisingResult` per denoiser, in order (names first).
    """
    from hpdesc.benchmark import denoising as D

    for target in (json, markdown, plot):
        if target is not None:
            check_writable(target)
    refuse_inputs([json, markdown, plot], [data, *(f for r in runs for f in run_inputs(r))])
    results = _commands().denoising_tables(denoisers, runs, data, split, params, sets, ssim, _reporter(progress))
    for target, write in ((json, D.write_json), (markdown, D.write_markdown), (plot, D.plot_bars)):
        if target is not None:
            write(results, target)
    return results


def _run_descriptors(run, data, split: str | None, reporter) -> Path:
    """Describe ``split`` with ``run`` (default: the latest run) on ``data`` (default: its dataset)."""
    if run is None:
        try:
            run = default_run(None, reporter)
        except UsageError as exc:
            raise UsageError(f"nothing to benchmark: no --descriptors FILE given and no trained run found "
                             f"({exc.message})",
                             hint="train one with `hpdesc train`, or pass --descriptors FILE or --run RUN_DIR") from None
    if data is None:  # the dataset the run was trained on
        data = C.resolve(RunDir(run).check().config).data.path
    return _commands().describe_run(run, data, split, reporter)


def evaluate(descriptors=None, *, run=None, data=None, split: str | None = None, tasks=None,
              protocol: str = "python", distance: str = "L2", tasks_dir=None, cache=True,
              memory: int | None = None, json=None, markdown=None, plot=None, progress=None):
    """Benchmark descriptor files, or a run (described first), on a split's test sequences (HPatches).

    The options of ``hpdesc benchmark``: ``descriptors``: a descriptor file, or a list of them
    (``--compare``). ``run``: a run directory whose models describe the split first (its result
    comes first); with no ``descriptors`` and no ``run``, the latest run. ``data``: the patch
    dataset (default: the one each file records; for a run, the one it trained on). ``split``:
    default the descriptor file's, else ``a``. ``tasks``: some of verification, matching,
    retrieval (default all). ``protocol``: ``python`` or ``paper``; ``distance``: ``L2`` or
    ``L1``; ``tasks_dir``: a folder of official ``verif_*.csv`` / ``retr_*.csv`` task files;
    ``cache``: True (default cache folder), a folder, or False (neither read nor write cached
    results). ``memory``: bytes of descriptors held at once (default 1 GiB). ``json``,
    ``markdown``, ``plot``: also write the results there (checked before anything is evaluated).
    ``progress``: a :class:`hpdesc.progress.Reporter` (one bar per task computed).

    Returns a :class:`~hpdesc.benchmark.evaluate.BenchmarkResult`, or a list of them (in order)
    when ``descriptors`` is a list or a run is benchmarked next to a file.
    """
    from hpdesc.benchmark.evaluate import check_options, evaluate as _evaluate

    outputs = [p for p in (json, markdown, plot) if p is not None]
    for target in outputs:  # before the evaluation, not after it
        check_writable(target)
    refuse_inputs(outputs, [data, tasks_dir, *(descriptors if isinstance(descriptors, (list, tuple)) else [descriptors]),
                            *run_inputs(run)])
    check_options(distance, protocol, memory)  # evaluate's own rule, before a run is described
    many = isinstance(descriptors, (list, tuple))
    files = list(descriptors) if many else [] if descriptors is None else [descriptors]
    reporter = _reporter(progress)
    if run is not None or not files:
        files.insert(0, _run_descriptors(run, data, split, reporter))
    results = [_evaluate(f, data, tasks=tuple(tasks) if tasks else C.TASKS, split=split, protocol=protocol,
                        distance=distance, tasks_dir=tasks_dir, cache=cache, memory=memory, reporter=reporter)
               for f in files]
    if outputs:
        from hpdesc.benchmark import report

        if json is not None:
            report.write_json(results if len(results) > 1 else results[0], json)
        if markdown is not None:
            report.write_markdown(results, markdown, breakdown=True)
        if plot is not None:
            report.plot_bars(results, plot)
    return results if many or len(results) > 1 else results[0]


benchmark, benchmark_denoise, export = evaluate, evaluate_denoising, export_run  # the 0.2.0 names (aliases)


# -- the image path: HPatches sequences, keypoint features, matching two images --------------------------
def image_methods(seq_dir, *, features=(), run=(), descriptor=(), compare=()) -> tuple[list[str], list[Path], list[str]]:
    """``(feature methods, runs, descriptors)`` of :func:`benchmark_images`, with each ``compare`` item
    sorted in: an existing folder is a run, a name with feature files beside image 1 of the first
    sequence is precomputed features, anything else a descriptor name."""
    from hpdesc.commands.images import image_methods as _methods

    return _methods(seq_dir, features=features, run=run, descriptor=descriptor, compare=compare)


@applies_max_pixels
def benchmark_images(seq_dir, *, features=(), run=(), descriptor=(), extractors=(), compare=(),
                     detector: str | None = None, max_keypoints: int | None = None, noise: str | None = None,
                     sets: Iterable[str] = (), seed: int | None = None, d2net_subset: bool = False,
                     denoiser=(), detect_on: str | None = None, json=None, plot=None, max_pixels: int | None = None,
                     progress=None) -> list:
    """Image matching on an ``hpatches-sequences-release`` folder: MMA and homography accuracy per method.

    The options of ``hpdesc benchmark images``. Methods, in this order: ``features``: names of
    precomputed feature files (``<image>.<method>`` beside the images, the D2-Net ``.npz``
    format); ``run``: run directories and ``descriptor``: descriptor names, whose features are
    computed here by ``hpdesc.matching.extract.make_extractor`` with ``detector`` (default
    ``sift``), ``max_keypoints`` (default 2048), ``noise`` (``none``/``e``/``h``/``t``: the
    level's noise added to the whole images before detection), ``sets`` (``KEY=VALUE`` component
    parameters) and ``seed``; ``extractors``: objects with ``.name`` and ``__call__(image) ->
    Features`` (used as they are); ``compare``: more methods, each an existing folder (a run), a
    name with feature files in the first sequence (precomputed) or else a descriptor name. Each
    setting applies to features computed here: with none computed, giving one is an error.
    ``denoiser``: registry denoisers (``nlmeans``, ``none``, ...) put in front of each named
    ``descriptor``: one method per (denoiser, descriptor), a classical pipeline;
    ``detect_on``: ``denoised`` / ``noisy`` (:func:`hpdesc.matching.extract.make_extractor`).
    ``d2net_subset``: leave out the 8 sequences D2-Net drops (said in the notes). ``json``,
    ``plot`` (PNG of the MMA curves): also write there (checked before any work). Each a single
    value or a list. ``max_pixels``: the pixel budget of an image (default 25 megapixels,
    :mod:`hpdesc.data.budget`; checked from the headers before any work). Returns one
    :class:`~hpdesc.matching.evaluate.ImageMatchingResult` per method.
    """
    from hpdesc.commands.images import benchmark_images as _bench

    return _bench(seq_dir, features=features, run=run, descriptor=descriptor, extractors=extractors,
                  compare=compare, detector=detector, max_keypoints=max_keypoints, noise=noise, sets=sets,
                  seed=seed, d2net_subset=d2net_subset, denoiser=denoiser, detect_on=detect_on, json=json, plot=plot,
                  reporter=_reporter(progress))


@applies_max_pixels
def features(images, *, run=None, descriptor: str | None = None, detector: str = "sift",
             max_keypoints: int = 2048, out=None, noise: str | None = None, seed: int = 0,
             sets: Iterable[str] = (), whole_image: bool | None = None, denoiser: str | None = None,
             detect_on: str | None = None, max_pixels: int | None = None, progress=None) -> dict:
    """Keypoint features of images, one D2-Net ``.npz`` file ``<image>.<method>`` per image.

    ``images``: a path or a list of them. ``run`` (a run directory) or ``descriptor`` (a registered
    name: ``sift``, ``raw``, a plugin's; ``sets``: its ``descriptor.PARAM=VALUE``): exactly one.
    ``detector``: ``sift``, ``orb``, ``akaze``; ``max_keypoints``: the strongest kept. ``out``: a
    folder for the files (default: beside each image). ``noise``: ``e`` / ``h`` / ``t`` adds
    hpdesc's noise to each image before detection (seeded by ``seed``). ``whole_image``: see
    :func:`hpdesc.matching.extract.make_extractor`, as are ``denoiser`` (a registry denoiser in front
    of ``descriptor``) and ``detect_on``. ``max_pixels``: the pixel budget of an image
    (default 25 megapixels; a larger one is refused from its header). Every image is read before
    anything is written. Returns ``{"name", "method", "files": [{"image", "path", "keypoints", "dim"}],
    "notes", "timings"}``.
    """
    from hpdesc.commands.images import features as _features

    return _features(images, run=run, descriptor=descriptor, detector=detector, max_keypoints=max_keypoints,
                     out=out, noise=noise, seed=seed, sets=sets, whole_image=whole_image, denoiser=denoiser,
                     detect_on=detect_on, reporter=_reporter(progress))


@applies_max_pixels
def match(image1, image2, *, run=None, descriptor: str | None = None, detector: str = "sift",
          max_keypoints: int = 2048, ratio: float | None = None, threshold: float = 3.0,
          noise: str | None = None, seed: int = 0, sets: Iterable[str] = (), whole_image: bool | None = None,
          denoiser: str | None = None, detect_on: str | None = None, out=None, json=None,
          max_pixels: int | None = None, progress=None) -> dict:
    """Match two images: keypoint features, mutual nearest neighbours, a robust homography.

    Models, detection (``denoiser``, ``detect_on`` included) and ``max_pixels`` as in :func:`features`. ``ratio``: also apply Lowe's ratio test (e.g.
    0.8). The homography comes from ``cv2.findHomography(..., cv2.USAC_MAGSAC, threshold)``
    (pixels). ``out``: a PNG of the two images side by side, inlier matches green, the others red;
    ``json``: keypoints, matches, inlier mask and H. Zero keypoints or matches is a result (with
    a note), not an error. Returns ``{"name", "keypoints": (n1, n2), "matches", "inliers", "H",
    "notes", "features": (Features, Features), "match": {...}}``.
    """
    from hpdesc.commands.images import match as _match

    return _match(image1, image2, run=run, descriptor=descriptor, detector=detector, max_keypoints=max_keypoints,
                  ratio=ratio, threshold=threshold, noise=noise, seed=seed, sets=sets, whole_image=whole_image,
                  denoiser=denoiser, detect_on=detect_on, out=out, json=json)


__all__ = ["train", "describe", "denoise", "evaluate", "evaluate_denoising", "benchmark_images", "image_methods",
           "features", "match", "describe_run", "load_model", "load_weights", "load_run", "latest_run", "export_run",
           "resolve_config", "default_data_path", "LoadedRun", "benchmark", "benchmark_denoise", "export"]
