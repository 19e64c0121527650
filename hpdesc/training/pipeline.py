"""A whole training run: denoiser stage, descriptor stage, then the benchmark on the test split.

Every phase records its progress in ``state.json``; a resumed run skips finished phases and
continues an unfinished stage from its last per-epoch checkpoint.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hpdesc.config import COMPONENTS, RunConfig
from hpdesc.data import batches as B
from hpdesc.errors import TrainingError, UsageError
from hpdesc.training import callbacks as cb
from hpdesc.training import distribute
from hpdesc.progress import Reporter
from hpdesc.training.loop import EpochBudget, SessionLimit, fit_stage
from hpdesc.benchmark.runbench import RunBenchmark
from hpdesc.training.run import RunDir, set_latest


@dataclass
class RunResult:
    """What :func:`hpdesc.train` returns."""

    run_dir: Path
    config: RunConfig
    status: str  # "finished" or "interrupted" (resume with hpdesc train --resume RUN_DIR)
    history: dict = field(default_factory=dict)
    benchmark: RunBenchmark | None = None  # the benchmark step's results (RUN/benchmark.json)
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status == "finished"


@contextlib.contextmanager
def precision_policy(precision: str):
    """``mixed``: bfloat16 compute / float32 variables while models are built and trained."""
    import keras

    old = keras.config.dtype_policy()
    if precision == "mixed":
        keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(old)


def _margin(cfg: RunConfig) -> float | None:
    """The descriptor loss's margin (set or the factory default), for the stuck-at-margin check."""
    from hpdesc import registry

    comp = cfg.descriptor_loss
    if "margin" in comp.params:
        return float(comp.params["margin"])
    try:
        p = inspect.signature(registry.load("descriptor_loss", comp.name)).parameters.get("margin")
    except (TypeError, ValueError):
        return None
    return float(p.default) if p is not None and isinstance(p.default, (int, float)) else None


def _optimizer(cfg: RunConfig, section: str):
    from hpdesc import registry

    comp = cfg.component(section)
    params = dict(comp.params)
    if "learning_rate" in params:  # training.lr_scaling (docs/scaling.md)
        params["learning_rate"] = distribute.active().learning_rate(params["learning_rate"])
    return registry.build("optimizer", comp.name, **params)


def _timed(timings: dict, key: str):
    @contextlib.contextmanager
    def cm():
        t0, c0 = time.perf_counter(), time.process_time()
        yield
        timings[key] = round(timings.get(key, 0.0) + time.perf_counter() - t0, 2)
        # CPU seconds of all threads: the figure that does not depend on other jobs' load
        timings[f"{key}_cpu"] = round(timings.get(f"{key}_cpu", 0.0) + time.process_time() - c0, 2)

    return cm()


def run_training(cfg: RunConfig, run: RunDir, *, reporter: Reporter | None = None,
                 max_epochs_this_session: int | None = None) -> RunResult:
    """Run (or continue) every phase of ``run``; ``cfg`` is its resolved configuration."""
    import keras

    from hpdesc import registry
    from hpdesc.data.store import open_dataset
    from hpdesc.models import is_trainable

    reporter = reporter or Reporter()
    budget = EpochBudget(max_epochs_this_session)
    state = run.state()
    timings: dict = dict(state.get("timings", {}))
    t = cfg.training
    cluster = distribute.setup(t)  # tf.distribute / keras.distribution, once per process
    keras.utils.set_random_seed(t.seed)
    result = RunResult(run.path, cfg, "interrupted", timings=timings)

    try:
        with precision_policy(t.precision), open_dataset(cfg.data.path) as ds:
            split = ds.split(cfg.data.split)
            train_seqs = list(split.get("train", []))
            if not train_seqs:
                raise UsageError(f"{ds.path}: split {cfg.data.split!r} has no training sequences")

            # -- denoiser stage ---------------------------------------------------------
            denoiser = _denoiser_stage(cfg, run, ds, train_seqs, reporter, budget, timings, result)

            # -- descriptor stage -------------------------------------------------------------
            if cfg.trains_descriptor:
                _descriptor_stage(cfg, run, ds, train_seqs, cluster.for_inference(denoiser), reporter, budget, timings, result)
            run.update_state(timings=timings)

            # -- benchmark ------------------------------------------------------------------------
            if cfg.benchmark.enabled and not run.state().get("benchmark_done"):
                with _timed(timings, "benchmark"), cluster.alone():
                    from hpdesc.training.bench import benchmark_run

                    result.benchmark = benchmark_run(cfg, run, ds, reporter, timings)
                run.update_state(benchmark_done=True, timings=timings)
            elif run.benchmark.exists():
                result.benchmark = RunBenchmark.from_dict(json.loads(run.benchmark.read_text(encoding="utf-8")))
        result.status = "finished"
        run.update_state(finished=True, timings=timings)
        if cluster.is_chief:  # only a run that trained and passed its checks becomes `latest`
            note = set_latest(run)
            if note:
                reporter.log(note)
    except SessionLimit:
        reporter.log(f"stopped after the epoch limit of this session; continue with: hpdesc train --resume {run.path}")
        run.update_state(timings=timings)
    for stage in ("denoiser", "descriptor"):
        if run.history(stage).exists():
            result.history[stage] = cb.read_history(run.history(stage))
    del registry, is_trainable
    return result


def _build(kind: str, cfg: RunConfig, section: str):
    """A stage's model with its weights made (a subclassed one has none before its first call: "untrainable")."""
    from hpdesc import registry
    from hpdesc.validate import ensure_built

    comp = cfg.component(section)
    return ensure_built(registry.build(kind, comp.name, input_shape=(32, 32, 1), **comp.params))


def _init_weights(cfg: RunConfig, run: RunDir, stage: str, model, reporter) -> None:
    """``training.init`` (``--init``): its weights for ``stage`` into a fresh model (not over a checkpoint)."""
    from hpdesc.models import is_trainable

    if not cfg.training.init or run.checkpoint(stage).exists() or not is_trainable(model):
        return
    from hpdesc.training.init import apply, resolve_init

    if apply(model, stage, resolve_init(cfg.training.init)):
        reporter.log(f"{stage}: initial weights from {cfg.training.init}")


def _denoiser_stage(cfg, run, ds, train_seqs, reporter, budget, timings, result):
    from hpdesc import registry
    from hpdesc.models import is_trainable

    t = cfg.training
    path = run.model("denoiser")
    if run.state().get("denoiser_done") and path.exists():
        from hpdesc.training.load import load_keras

        return load_keras(path)
    cluster = distribute.active()
    with cluster.scope():
        model = _build("denoiser", cfg, "denoiser")
        _init_weights(cfg, run, "denoiser", model, reporter)
    if not is_trainable(model) or t.denoiser_epochs == 0:
        if is_trainable(model):
            reporter.log("denoiser: 0 epochs, saving the untrained model")
        cb.save_keras(model, path)
        run.update_state(denoiser_done=True)
        return model
    with _timed(timings, "denoiser_load"):
        tr_seqs, val_seqs = B.split_sequences(train_seqs, cfg.ratio("denoiser"), t.seed)
        tr = B.load_patches(ds, cluster.shard(tr_seqs))  # each worker reads only its shard
        val_x, val_y = B.denoiser_val(ds, val_seqs, t.denoiser_val_samples, t.seed)
    loss_fn = registry.build("denoiser_loss", cfg.denoiser_loss.name, **cfg.denoiser_loss.params)
    from hpdesc.training.wrappers import DenoiserTrainer

    with cluster.scope():
        trainer = DenoiserTrainer(model, loss_fn)
        trainer.compile(optimizer=_optimizer(cfg, "denoiser_optimizer"), jit_compile=False)
        trainer.build((None, 32, 32, 1))
    bs = t.denoiser_batch_size
    steps = max(1, -(-t.denoiser_samples_per_epoch // bs))
    lbs = cluster.local_batch(bs, "denoiser_batch_size")  # = bs on one worker

    def make_batches(epoch):
        return B.denoiser_batches(tr, lbs, steps * lbs, cluster.rng(t.seed, "denoiser", epoch))

    def validate():
        losses, n = 0.0, 0
        for lo in range(0, len(val_x), 256):
            x, y = val_x[lo:lo + 256], val_y[lo:lo + 256]
            losses += float(trainer.test_on_batch(x, y, return_dict=True)["loss"]) * len(x)
            n += len(x)
        return {"val_loss": losses / max(n, 1)}

    def after_epoch(epoch):
        rng = B.rng_for(t.seed, "val", 10 + epoch)
        cb.recalibrate_batchnorm(model, (x for x, _ in B.denoiser_batches(tr, 64, 256, rng)),
                                 cluster.stats_forward(model))

    wd = cb.Watchdog("denoiser", t.watchdog, hint="lower the learning rate, e.g. "
                     "--set denoiser_optimizer.learning_rate=1e-4", warn=reporter.log)
    _train_and_save("denoiser", cfg, run, model, path, trainer, make_batches, steps, validate, wd,
                    after_epoch, reporter, budget, timings, result)
    return model


def _descriptor_pool(cfg, run, ds, seqs, denoiser, budget_images, name, reporter):
    """uint8 ``(R, M, 32, 32)`` training (or validation) pool for the descriptor, cached in the run."""
    from hpdesc.inference.pipeline import Pipeline, is_identity

    t = cfg.training
    mode = cfg.data.descriptor_input
    kind = "clean" if mode == "clean" else "noisy"
    if mode != "denoised" or is_identity(denoiser):
        return B.load_patches(ds, seqs, kinds=(kind,)).arrays[kind]
    cache = run.checkpoints / f"pool_{name}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return z["pool"]
    rows, images = B.choose_pool(B.count_rows(ds, seqs), t.pool_images_per_row, budget_images,
                                 B.rng_for(t.seed, "pool", 1 if name == "train" else 2))
    picked = B.read_rows(ds, seqs, rows, (kind,))[kind]  # only the pool's rows, not the split
    raw = B.gather_pool(picked, np.arange(len(rows)), images)
    pipe = Pipeline(denoiser, None)
    flat = raw.reshape((-1, 32, 32))
    out = np.empty_like(flat)
    reporter.start(f"denoising the descriptor's {name} patches", len(flat))
    step = 256
    for lo in range(0, len(flat), step):
        out[lo:lo + step] = pipe.denoise(flat[lo:lo + step])
        reporter.advance(len(flat[lo:lo + step]))
    reporter.done()
    pool = out.reshape(raw.shape)
    from hpdesc.atomic import atomic_path

    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, pool=pool)
    return pool


def _descriptor_stage(cfg, run, ds, train_seqs, denoiser, reporter, budget, timings, result):
    from hpdesc import registry
    from hpdesc.models import is_trainable
    from hpdesc.inference.predict import batch_fn
    from hpdesc.training.wrappers import TripletTrainer, uses_negatives

    t = cfg.training
    path = run.model("descriptor")
    if run.state().get("descriptor_done") and path.exists():
        return
    cluster = distribute.active()
    with cluster.scope():
        model = _build("descriptor", cfg, "descriptor")
        _init_weights(cfg, run, "descriptor", model, reporter)
    if not is_trainable(model) or t.descriptor_epochs == 0:
        cb.save_keras(model, path)
        run.update_state(descriptor_done=True)
        return
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    with _timed(timings, "descriptor_pool"):
        tr_seqs, val_seqs = B.split_sequences(train_seqs, cfg.ratio("descriptor"), t.seed)
        pool = _descriptor_pool(cfg, run, ds, cluster.shard(tr_seqs), denoiser, t.denoise_pool, "train", reporter)
        vpool = _descriptor_pool(cfg, run, ds, val_seqs, denoiser, 2 * t.descriptor_val_triplets, "val", reporter)
        val = B.triplet_val(vpool, t.descriptor_val_triplets, t.seed)
    run.update_state(timings=timings)
    loss_fn = registry.build("descriptor_loss", cfg.descriptor_loss.name, **cfg.descriptor_loss.params)
    with_neg = uses_negatives(loss_fn)
    n_in = 3 if with_neg else 2
    with cluster.scope():
        trainer = TripletTrainer(model, loss_fn, with_negatives=with_neg)
        trainer.compile(optimizer=_optimizer(cfg, "descriptor_optimizer"), jit_compile=False)
        trainer.build(tuple((None, 32, 32, 1) for _ in range(n_in)))
    bs = t.descriptor_batch_size
    steps = max(1, -(-t.descriptor_triplets_per_epoch // bs))
    lbs = cluster.local_batch(bs, "descriptor_batch_size")  # = bs on one worker
    if pool.shape[0] < bs:
        reporter.log(f"warning: only {pool.shape[0]} training patches for batches of {bs}; "
                     "in-batch negatives will repeat")

    def make_batches(epoch):
        for b in B.triplet_batches(pool, lbs, steps * lbs,
                                   cluster.rng(t.seed, "descriptor", epoch), with_negatives=with_neg,
                                   augment=t.descriptor_augment):
            yield tuple(b), None

    describe = batch_fn(cluster.for_inference(model))  # per worker: no collective (nor its dtype limits)
    spread_batch = val[0][:256]

    def validate():
        total, n = 0.0, 0
        for lo in range(0, len(val[0]), bs):
            xs = tuple(v[lo:lo + bs] for v in val[:n_in])
            if len(xs[0]) < 2:
                continue
            total += float(trainer.test_on_batch(xs, None, return_dict=True)["loss"]) * len(xs[0])
            n += len(xs[0])
        spread = cb.mean_pairwise_distance(describe(spread_batch))
        return {"val_loss": total / max(n, 1), "spread": spread}

    def after_epoch(epoch):
        rng = B.rng_for(t.seed, "val", 100 + epoch)
        cb.recalibrate_batchnorm(model, (b[0] for b in B.triplet_batches(pool, 256, 512, rng, with_negatives=False)),
                                 cluster.stats_forward(model))

    wd = cb.Watchdog("descriptor", t.watchdog, collapse_distance=t.collapse_distance,
                     stuck_epochs=t.stuck_epochs, margin=_margin(cfg), warn=reporter.log,
                     hint="lower the learning rate (--set descriptor_optimizer.learning_rate=1e-4), "
                          "raise the batch size, or try --descriptor-loss triplet")
    _train_and_save("descriptor", cfg, run, model, path, trainer, make_batches, steps, validate, wd,
                    after_epoch, reporter, budget, timings, result)


def _train_and_save(stage, cfg, run, model, path, trainer, make_batches, steps, validate, wd, after_epoch,
                    reporter, budget, timings, result) -> None:
    """The common tail of both stages: fit (timed), collect warnings, save the model, mark done."""
    t = cfg.training
    with _timed(timings, f"{stage}_train"):
        fit_stage(stage, distribute.active().trainer(trainer), make_batches, steps, validate, run=run,
                  epochs=getattr(t, f"{stage}_epochs"), watchdog=wd,
                  loss_name=getattr(cfg, f"{stage}_loss").name, prefetch=t.prefetch, patience=t.patience,
                  reporter=reporter, budget=budget, after_epoch=after_epoch)
    result.warnings.extend(wd.warnings)
    cb.save_keras(model, path)
    run.update_state(**{f"{stage}_done": True}, timings=timings)


def provenance(cfg: RunConfig, entries: dict) -> dict:
    """The ``[provenance]`` section of a saved config."""
    import keras

    from hpdesc import __version__

    return {"hpdesc": __version__, "keras": keras.__version__, "backend": keras.backend.backend(),
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **{sec: entries[sec] for sec in COMPONENTS if sec in entries}}


__all__ = ["RunResult", "run_training", "provenance", "TrainingError"]
