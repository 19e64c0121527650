"""Take a run's trained models out of hpdesc: float32 rebuilds, ONNX / SavedModel writers, the model card.

Runs train under the mixed bfloat16 policy by default, and a graph exported from such a model is
bfloat16 inside (onnxruntime refuses Keras' own ONNX export of it). So every export rebuilds the
run's models from its config under the float32 policy, copies the trained weights in, and wraps
them in one Keras graph with input ``patches`` ``(B, 32, 32, 1)`` float32 in [0, 1] (any batch):

* ``descriptor``: the descriptor alone -> ``descriptors`` ``(B, D)``;
* ``denoiser``: the denoiser alone -> ``denoised`` ``(B, 32, 32, 1)`` (not rounded);
* ``pipeline``: denoiser -> the uint8 rounding hpdesc applies between the stages
  (:class:`hpdesc.models.layers.QuantizeUint8`) -> descriptor -> ``descriptors``.

The export is a folder, written whole or not at all (a temporary sibling renamed into place):
``model.onnx`` or the SavedModel's files, and ``MODEL.md``, the model card. After writing, the
exported graph runs on a batch of patches and its output is compared with the float32 Keras
graph's; the card records the difference. ONNX needs the ``export`` extra (onnx, tf2onnx and
onnxruntime); a SavedModel needs only TensorFlow. Both need the TensorFlow backend.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hpdesc.atomic import make_dirs
from hpdesc.errors import HpdescError, PluginError, UsageError, WriteError

WHATS = ("descriptor", "denoiser", "pipeline")
FORMATS = ("onnx", "saved_model")
INPUT = "patches"
PATCH = (32, 32, 1)
CARD = "MODEL.md"
ONNX_FILE = "model.onnx"
ONNX_PACKAGES = ("onnx", "tf2onnx", "onnxruntime")
CHECK_PATCHES = 64
"""Patches the exported graph is checked on after writing (random levels of a uint8 image)."""
TOLERANCE = {"descriptor": 1e-4, "denoiser": 1 / 255, "pipeline": 1e-3}
"""Largest difference from the float32 Keras graph an export is expected to show (beyond it: a warning).

A pipeline may differ more than a descriptor: a denoised value on a rounding boundary can go to
either uint8 level."""


class ExportError(HpdescError):
    """A run's model that cannot be exported (exit 1)."""


@dataclass
class ExportResult:
    """What :func:`export_run` wrote and how the written graph compared with the float32 Keras graph."""

    path: Path
    model_file: Path
    what: str
    format: str
    output: str
    output_shape: tuple
    max_abs_diff: float
    checked_patches: int
    unit_norm: bool = False
    opset: int | None = None
    warnings: list = field(default_factory=list)


# -- checks ---------------------------------------------------------------------------------------
def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        from hpdesc.errors import did_you_mean

        raise UsageError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}{did_you_mean(fmt, FORMATS)}")
    return fmt


def check_what(what: str) -> str:
    if what not in WHATS:
        from hpdesc.errors import did_you_mean

        raise UsageError(f"unknown --what {what!r}; use one of {', '.join(WHATS)}{did_you_mean(what, WHATS)}")
    return what


def require_exporters(fmt: str) -> None:
    """One line naming the ``export`` extra when ONNX export's packages are missing; the TensorFlow backend."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise UsageError(f"hpdesc export runs on the TensorFlow backend; this process uses {keras.backend.backend()}",
                         hint="run it with KERAS_BACKEND=tensorflow (the exported graph runs anywhere)")
    if fmt != "onnx":
        return
    missing = [m for m in ONNX_PACKAGES if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"ONNX export needs {', '.join(missing)}, not installed: pip install \"hpdesc[export]\"")


def exportable(model, name: str, role: str) -> None:
    """Refuse a model that is not a Keras graph (sift, classical denoisers: numpy / OpenCV code)."""
    import keras

    from hpdesc.models import numpy_compute

    if numpy_compute(model) is not None or not isinstance(model, keras.Model):
        raise UsageError(f"the {role} {name!r} runs numpy / OpenCV code, not a Keras graph: it cannot be exported "
                         "to ONNX or a SavedModel",
                         hint=f"hpdesc computes it directly (hpdesc describe); export a run with a Keras {role}")


# -- the float32 graph ----------------------------------------------------------------------------
@contextlib.contextmanager
def _float32_policy():
    import keras

    old = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(old)


def float32_model(cfg, section: str, trained):
    """``trained`` (a run's model) rebuilt from the run's config under the float32 policy, with its weights.

    The config records every parameter the factory was called with, so the rebuild has the same
    layers and weights in the same order; a model that does not match is an ExportError.
    """
    from hpdesc import registry
    from hpdesc.validate import ensure_built

    comp = cfg.component(section)
    with _float32_policy():
        model = ensure_built(registry.build(section, comp.name, input_shape=PATCH, **comp.params))
    ours, theirs = model.weights, trained.weights
    shapes = [tuple(w.shape) for w in ours], [tuple(w.shape) for w in theirs]
    if shapes[0] != shapes[1]:
        raise ExportError(f"the {section} {comp.name!r} rebuilt from the run's config does not match its saved model "
                          f"({len(ours)} weights vs {len(theirs)} saved)",
                          hint="was the plugin that built it changed since the run? see [provenance] in config.toml")
    model.set_weights(trained.get_weights())
    return model


def _is_identity(model) -> bool:
    from hpdesc.inference.pipeline import is_identity

    return is_identity(model)


def export_graph(what: str, denoiser=None, descriptor=None):
    """One float32 Keras model ``patches -> output`` for ``what``: its models must be float32 already."""
    import keras

    from hpdesc.models.layers import QuantizeUint8

    with _float32_policy():
        inputs = keras.Input(PATCH, name=INPUT, dtype="float32")
        x = inputs
        if what in ("denoiser", "pipeline") and denoiser is not None:
            x = denoiser(x, training=False)
            if what == "pipeline":
                x = QuantizeUint8(name="uint8")(x)
        if what in ("descriptor", "pipeline"):
            x = descriptor(x, training=False)
        x = keras.layers.Identity(name="descriptors" if what != "denoiser" else "denoised")(x)
        return keras.Model(inputs, x, name=f"hpdesc_{what}")


def check_patches(n: int = CHECK_PATCHES, seed: int = 0) -> np.ndarray:
    """``n`` patches of random uint8 levels as hpdesc feeds them, ``(n, 32, 32, 1)`` float32 in [0, 1]."""
    from hpdesc.data.batches import to_float

    rng = np.random.default_rng(seed)
    smooth = rng.integers(0, 256, size=(n, 8, 8)).repeat(4, 1).repeat(4, 2)  # some structure, some noise
    return to_float(np.clip(smooth + rng.normal(0, 20, smooth.shape), 0, 255).astype(np.uint8))


# -- writers --------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet():
    """tf2onnx's INFO logs and Keras' numpy-2 patch warning are noise to the user."""
    log = logging.getLogger("tf2onnx")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        log.setLevel(level)


def write_onnx(graph, path: Path, output: str) -> int:
    """``graph`` as an ONNX file: input ``patches``, output ``output``, batch dimension ``batch``; returns the opset."""
    import onnx

    with _quiet():
        graph.export(str(path), format="onnx", verbose=False)
    proto = onnx.load(str(path))
    old = proto.graph.output[0].name
    for node in proto.graph.node:  # tf2onnx names the output after the TF tensor ("Identity:0")
        node.output[:] = [output if o == old else o for o in node.output]
        node.input[:] = [output if i == old else i for i in node.input]
    proto.graph.output[0].name = output
    for value in (proto.graph.input[0], proto.graph.output[0]):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = "batch"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return next((int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    """The ONNX file's output on ``x`` under onnxruntime (CPU)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {INPUT: x})[0])


def write_saved_model(graph, folder: Path) -> None:
    """``graph`` as a TensorFlow SavedModel in ``folder`` (endpoint ``serve``, signature ``serving_default``)."""
    with _quiet():
        graph.export(str(folder), format="tf_saved_model", verbose=False)


def run_saved_model(folder: Path, x: np.ndarray) -> np.ndarray:
    """The SavedModel's ``serve`` endpoint on ``x``."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(folder))  # held: its variables die with it
    return np.asarray(loaded.serve(tf.constant(x)))


# -- the folder -----------------------------------------------------------------------------------
def default_out(run_path: Path, what: str, fmt: str) -> Path:
    """``RUN/export/<what>-<format>``."""
    return Path(run_path) / "export" / f"{what}-{fmt}"


def check_out(out: Path) -> None:
    """An export folder may replace an earlier export, nothing else."""
    if out.suffix in (".onnx", ".pb", ".keras", ".md"):
        raise UsageError(f"--out {out}: give a folder; the export writes {ONNX_FILE} (or the SavedModel) and "
                         f"{CARD} into it", hint=f"e.g. --out {out.with_suffix('')}")
    if out.exists():
        if not out.is_dir():
            raise WriteError(f"cannot write {out}: it is a file, not a folder")
        if any(out.iterdir()) and not (out / CARD).is_file():
            raise UsageError(f"{out} exists and is not an hpdesc export (no {CARD}); it is left as it is",
                             hint="choose another --out (an earlier export there would be replaced)")


@contextlib.contextmanager
def atomic_folder(out: Path):
    """Yield a temporary sibling folder; on success it replaces ``out`` (an earlier export) whole."""
    make_dirs(out.parent, target=out)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as exc:
        raise WriteError(f"cannot write {out}: {exc.strerror or exc}") from None
    old = None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        yield tmp
        if out.exists():  # an earlier export (check_out): moved aside, then removed
            old = out.parent / f"{tmp.name}.old"
            os.replace(out, old)
        try:
            os.replace(tmp, out)
        except OSError as exc:
            if old is not None:
                os.replace(old, out)
                old = None
            raise WriteError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


# -- the whole export -----------------------------------------------------------------------------
def resolve_what(what: str | None, cfg, denoiser, descriptor) -> str:
    """The default ``what`` (the pipeline if the run has a descriptor, else the denoiser), checked."""
    if what is None:
        what = "pipeline" if descriptor is not None else "denoiser"
    check_what(what)
    if what in ("descriptor", "pipeline") and descriptor is None:
        raise UsageError(f"the run has no descriptor (a denoiser-only run), so there is no {what} to export",
                         hint="export its denoiser: --what denoiser")
    if what == "denoiser" and (denoiser is None or _is_identity(denoiser)):
        name = cfg.denoiser.name if denoiser is not None else "none"
        raise UsageError(f"the run's denoiser is {name!r}: nothing to export (it returns its input)",
                         hint="export the descriptor: --what descriptor")
    return what


def export_run(run_path: Path, cfg, denoiser, descriptor, *, what: str | None = None, fmt: str = "onnx",
               out=None, reporter=None) -> ExportResult:
    """Export a loaded run's ``what`` as ``fmt`` into the folder ``out`` (default ``RUN/export/<what>-<fmt>``).

    ``denoiser`` / ``descriptor`` are the run's saved models (None where it has none). Returns an
    :class:`ExportResult`. Raises UsageError for a bad choice, a missing extra or an unusable
    ``out``, ExportError for a model that cannot be rebuilt.
    """
    from hpdesc.progress import Reporter

    reporter = reporter or Reporter()
    check_format(fmt)
    what = resolve_what(what, cfg, denoiser, descriptor)
    require_exporters(fmt)
    out = Path(out) if out is not None else default_out(run_path, what, fmt)
    check_out(out)
    use_den = what in ("denoiser", "pipeline") and denoiser is not None and not _is_identity(denoiser)
    use_desc = what in ("descriptor", "pipeline")
    if use_den:
        exportable(denoiser, cfg.denoiser.name, "denoiser")
    if use_desc:
        exportable(descriptor, cfg.descriptor.name, "descriptor")
    den32 = float32_model(cfg, "denoiser", denoiser) if use_den else None
    desc32 = float32_model(cfg, "descriptor", descriptor) if use_desc else None
    graph = export_graph(what, den32, desc32)
    output = "denoised" if what == "denoiser" else "descriptors"
    x = check_patches()
    expected = np.asarray(graph.predict_on_batch(x), np.float32)
    notes, opset = [], None
    with atomic_folder(out) as tmp:
        reporter.start(f"exporting the {what} ({fmt})", None)
        try:
            if fmt == "onnx":
                model_file = tmp / ONNX_FILE
                opset = write_onnx(graph, model_file, output)
                got = run_onnx(model_file, x)
            else:
                model_file = tmp
                write_saved_model(graph, tmp)
                got = run_saved_model(tmp, x)
        except HpdescError:
            raise
        except Exception as exc:  # noqa: BLE001 - a converter failure: one line naming the model
            raise ExportError(f"exporting the {what} as {fmt} failed ({type(exc).__name__}: "
                              f"{(str(exc).strip().splitlines() or [''])[0][:300]})") from None
        finally:
            reporter.done()
        diff = float(np.max(np.abs(got.astype(np.float32) - expected))) if got.shape == expected.shape else float("inf")
        if not diff <= TOLERANCE[what]:
            notes.append(f"the exported graph differs from the float32 Keras graph by up to {diff:.3g} "
                         f"on {len(x)} patches (expected <= {TOLERANCE[what]:.3g})")
        unit = what != "denoiser" and bool(np.allclose(np.linalg.norm(expected, axis=-1), 1.0, atol=1e-3))
        result = ExportResult(out, out / ONNX_FILE if fmt == "onnx" else out, what, fmt, output,
                              tuple(int(s) for s in expected.shape[1:]), diff, len(x), unit, opset, notes)
        from hpdesc.atomic import write_text_atomic

        write_text_atomic(tmp / CARD, model_card(run_path, cfg, result, use_den, use_desc))
    for note in notes:
        reporter.log(f"warning: {note}")
    return result


# -- the model card -------------------------------------------------------------------------------
def _params(comp) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(comp.params.items())) or "defaults"


def _benchmark_lines(run_path: Path) -> list[str]:
    import json

    from hpdesc.training.run import RunDir

    path = RunDir(run_path).benchmark
    try:
        bench = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ["No benchmark was recorded (benchmark.json is missing: the run's benchmark step was off "
                "or has not run)."]
    lines = []
    results = bench.get("results") or {}
    if results:
        tasks = [t for t in ("verification", "matching", "retrieval")
                 if any(t in (r.get("headline") or {}) for r in results.values())]
        pct = lambda v: "-" if v is None else f"{100 * v:.2f}"  # noqa: E731
        lines += [f"HPatches tasks on the test split `{bench.get('split', '?')}` of the training dataset "
                  f"(protocol `{bench.get('protocol', '?')}`), mAP %:", "",
                  "| Descriptors | " + " | ".join(t.capitalize() for t in tasks) + " | Mean |",
                  "|---|" + "---:|" * (len(tasks) + 1)]
        for name, r in results.items():
            head = r.get("headline") or {}
            lines.append(f"| {name} | " + " | ".join(pct(head.get(t)) for t in tasks) + f" | {pct(r.get('mean'))} |")
    psnr = bench.get("psnr") or {}
    if psnr.get("noisy") is not None and psnr.get("denoised") is not None:
        lines += ["", f"Denoising PSNR on the test split: noisy {psnr['noisy']:.2f} dB -> denoised "
                      f"{psnr['denoised']:.2f} dB."]
    return lines or ["benchmark.json holds no results."]


def _history_line(run_path: Path, stage: str) -> str:
    from hpdesc.training.callbacks import read_history
    from hpdesc.training.run import RunDir

    rows = read_history(RunDir(run_path).history(stage))
    if not rows:
        return ""
    last = rows[-1]
    val = last.get("val_loss")
    return f"; trained {last['epoch']} epochs" + (f", final validation loss {val:.4g}" if val is not None else "")


def model_card(run_path: Path, cfg, result: ExportResult, use_den: bool, use_desc: bool) -> str:
    """``MODEL.md``: what the exported graph is, how it was trained and measured, how to feed it."""
    import keras

    from hpdesc import __version__

    t = cfg.training
    prov = cfg.provenance or {}
    fmt_name = {"onnx": "ONNX", "saved_model": "TensorFlow SavedModel"}[result.format]
    where = (f"`{ONNX_FILE}` (ONNX opset {result.opset}; input `{INPUT}`, output `{result.output}`)"
             if result.format == "onnx" else
             f"this folder (load with `tf.saved_model.load`; endpoint `serve`, signature `serving_default`, "
             f"input `{INPUT}`)")

    def who(section):
        rec = prov.get(section) or {}
        src = f" from {rec['distribution']} {rec.get('version', '?')}" if rec.get("distribution") else ""
        comp = cfg.component(section)
        return f"`{comp.name}`{src} ({_params(comp)})"

    stages = []
    if use_den:
        stages.append(f"- **Denoiser**: {who('denoiser')}; loss {who('denoiser_loss')}, optimizer "
                      f"{who('denoiser_optimizer')}; {t.denoiser_epochs} epochs x {t.denoiser_samples_per_epoch} "
                      f"patches, batch {t.denoiser_batch_size}{_history_line(run_path, 'denoiser')}.")
    if result.what == "pipeline" and use_den:
        stages.append("- **Between the stages**: the denoised patch is rounded to uint8 levels, "
                      "`round(clip(x, 0, 1) * 255) / 255` (round half to even), as hpdesc does.")
    elif result.what == "pipeline":
        stages.append(f"- **No denoiser**: the run's denoiser is `{cfg.denoiser.name}` (it returns its input), "
                      "so the pipeline is the descriptor alone.")
    if use_desc:
        stages.append(f"- **Descriptor**: {who('descriptor')}; loss {who('descriptor_loss')}, optimizer "
                      f"{who('descriptor_optimizer')}; {t.descriptor_epochs} epochs x "
                      f"{t.descriptor_triplets_per_epoch} triplets, batch {t.descriptor_batch_size}, trained on "
                      f"{cfg.data.descriptor_input} patches{_history_line(run_path, 'descriptor')}.")
    out_desc = (f"`{result.output}`: float32 `(B, {', '.join(map(str, result.output_shape))})`"
                + (", unit L2 norm" if result.unit_norm else "")
                + (", in about [0, 1], not rounded (hpdesc clips and rounds it to uint8 before use)"
                   if result.what == "denoiser" else ""))
    lines = [
        f"# hpdesc {result.what}: {fmt_name}", "",
        f"Exported by hpdesc {__version__} (Keras {keras.__version__}, TensorFlow backend) from the run "
        f"`{Path(run_path).resolve()}`, trained with hpdesc {prov.get('hpdesc', '?')} and Keras "
        f"{prov.get('keras', '?')} ({prov.get('backend', '?')} backend) at {prov.get('created_at', '?')}.",
        "", "## The model", "",
        f"The graph is in {where}. It is float32 throughout: the run's models rebuilt under the float32 "
        f"policy with the trained weights (the run computed in {'bfloat16' if t.precision == 'mixed' else 'float32'}).",
        "", *stages, "",
        "## Input and output", "",
        f"- `{INPUT}`: float32 `(B, 32, 32, 1)`, any batch size B: grey 32x32 patches, the uint8 pixel value "
        "divided by 255 (values in [0, 1], NHWC, one channel).",
        f"- {out_desc}.",
        "",
        f"Checked after writing: on {result.checked_patches} patches the exported graph's output differs from "
        f"the float32 Keras graph's by at most {result.max_abs_diff:.3g}.",
        "", "## Training data and budget", "",
        f"- Dataset: `{cfg.data.path or 'the embedded dataset'}`, split `{cfg.data.split}` (training sequences; "
        f"validation ratio denoiser {cfg.data.denoiser_val_ratio}, descriptor {cfg.data.descriptor_val_ratio}).",
        f"- Seed {t.seed}, precision `{t.precision}`, augmentation "
        f"{'on' if t.descriptor_augment else 'off'}.",
        "", "## Benchmark (from the run's benchmark.json)", "",
        *_benchmark_lines(run_path),
        "", "Deploying: docs/deploying.md in hpdesc (plain Keras, onnxruntime, OpenCV DNN).", "",
    ]
    return "\n".join(lines)


__all__ = ["ExportError", "ExportResult", "FORMATS", "WHATS", "export_run", "float32_model", "export_graph",
           "model_card", "check_patches"]
