"""The model card, ``MODEL.md``: what the exported graph is, how it was trained and measured, how to feed it."""

from __future__ import annotations

from pathlib import Path

from hpdesc.export.graph import INPUT, ONNX_FILE, ExportResult

def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


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
    return f"; trained {_n(int(last['epoch']), 'epoch')}" + (f", final validation loss {val:.4g}" if val is not None else "")


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
                      f"{who('denoiser_optimizer')}; {_n(t.denoiser_epochs, 'epoch')} x {t.denoiser_samples_per_epoch} "
                      f"patches, batch {t.denoiser_batch_size}{_history_line(run_path, 'denoiser')}.")
    if result.what == "pipeline" and use_den:
        stages.append("- **Between the stages**: the denoised patch is rounded to uint8 levels, "
                      "`round(clip(x, 0, 1) * 255) / 255` (round half to even), as hpdesc does.")
    elif result.what == "pipeline":
        stages.append(f"- **No denoiser**: the run's denoiser is `{cfg.denoiser.name}` (it returns its input), "
                      "so the pipeline is the descriptor alone.")
    if use_desc:
        stages.append(f"- **Descriptor**: {who('descriptor')}; loss {who('descriptor_loss')}, optimizer "
                      f"{who('descriptor_optimizer')}; {_n(t.descriptor_epochs, 'epoch')} x "
                      f"{t.descriptor_triplets_per_epoch} triplets, batch {t.descriptor_batch_size}, trained on "
                      f"{cfg.data.descriptor_input} patches{_history_line(run_path, 'descriptor')}.")
    name = f"`{result.output}`" + (" (what `serve` returns; signature output `output_0`)"
                                   if result.format == "saved_model" else "")
    out_desc = (f"{name}: float32 `(B, {', '.join(map(str, result.output_shape))})`"
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
