"""Training and inference throughput of hpdesc's own code path, with a PyTorch reference.

Times what ``hpdesc train`` and ``hpdesc describe`` run, input pipeline included: patches read
from an HDF5 dataset into memory, triplet / pair sampling (``hpdesc.data.batches``), the prefetch
thread, host-to-device transfer, the training step chosen by ``fit_stage`` (the jitted fast path on
JAX, Keras' ``train_on_batch`` elsewhere) through the same epoch function
(``hpdesc.training.loop.train_epoch``), and inference through ``hpdesc.inference``
(``describe_sequences`` for descriptors, ``Pipeline.denoise`` for denoisers). When PyTorch imports,
a reference of the same networks (torch.compile, bf16 autocast with ``--precision mixed``, the same
numpy batches, pinned non-blocking copies, no host read-back per step) runs in the same process and
the ratio hpdesc / reference is printed. The input pipeline alone is timed too.

Warm-up (compilation) is excluded; every figure is the median of ``--repeats`` timings.

Examples::

    python benchmarks/throughput.py --steps 5 --repeats 3                       # CPU, TF backend
    KERAS_BACKEND=jax python benchmarks/throughput.py --precision mixed \\
        --hardnet-batch 1024 --dncnn-batch 256 --steps 50 --repeats 5           # one GPU
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# -- data ----------------------------------------------------------------------------------------


def synthetic_dataset(path: Path, n_seq: int = 4, n_patches: int = 1024, seed: int = 0) -> Path:
    """Random uint8 patches in hpdesc's HDF5 format (throughput does not depend on content)."""
    from hpdesc.data.store import DatasetWriter

    rng = np.random.default_rng(seed)
    names = [f"{'iv'[i % 2]}_bench{i}" for i in range(n_seq)]
    with DatasetWriter(path, names, [n_patches] * n_seq, {"source": "throughput benchmark"}) as w:
        for name in names:
            clean = rng.integers(0, 256, size=(n_patches, 16, 32, 32), dtype=np.uint8)
            noisy = np.clip(clean + rng.normal(0, 15, clean.shape), 0, 255).astype(np.uint8)
            w.put(name, clean, noisy)
        w.set_split("default", train=names, test=names)
    return path


def median_rate(fn, count: int, repeats: int) -> float:
    """Items per second: ``count`` items per ``fn()`` call, median over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return count / statistics.median(times)


# -- hpdesc ----------------------------------------------------------------------------------------


class Bench:
    """hpdesc's training stage (built as ``hpdesc.training.pipeline`` builds it) for one network."""

    def __init__(self, name: str, ds, batch: int, steps: int, precision: str, params: dict):
        import keras

        from hpdesc import registry
        from hpdesc.data import batches as B
        from hpdesc.training import fast
        from hpdesc.training.pipeline import precision_policy
        from hpdesc.training.wrappers import DenoiserTrainer, TripletTrainer, uses_negatives

        self.name, self.batch, self.steps = name, batch, steps
        seqs = list(ds.split("default")["train"])
        t0 = time.perf_counter()
        if name == "dncnn":
            self.data = B.load_patches(ds, seqs)
        else:
            self.data = B.load_patches(ds, seqs, kinds=("noisy",)).arrays["noisy"]
        self.load_s = time.perf_counter() - t0
        keras.utils.set_random_seed(0)
        with precision_policy(precision):
            if name == "dncnn":
                self.net = registry.build("denoiser", name, input_shape=(32, 32, 1), **params)
                trainer = DenoiserTrainer(self.net, registry.build("denoiser_loss", "mse"))
                shape = (None, 32, 32, 1)
            else:
                self.net = registry.build("descriptor", name, input_shape=(32, 32, 1), **params)
                loss = registry.build("descriptor_loss", "hardnet")
                self.with_neg = uses_negatives(loss)
                trainer = TripletTrainer(self.net, loss, with_negatives=self.with_neg)
                shape = tuple((None, 32, 32, 1) for _ in range(3 if self.with_neg else 2))
            trainer.compile(optimizer=registry.build("optimizer", "adam", learning_rate=1e-4), jit_compile=False)
            trainer.build(shape)
        self.trainer = fast.adapt(trainer)  # what fit_stage does
        self.fast = isinstance(self.trainer, fast.JaxTrainer)
        # patches through the network per step: pairs (anchor + positive) for HardNet's loss
        self.per_step = batch * (1 if name == "dncnn" else (3 if self.with_neg else 2))

    def batches(self, epoch: int):
        from hpdesc.data import batches as B

        rng = B.rng_for(0, "denoiser" if self.name == "dncnn" else "descriptor", epoch)
        if self.name == "dncnn":
            return B.denoiser_batches(self.data, self.batch, self.steps * self.batch, rng)
        return ((tuple(b), None) for b in B.triplet_batches(self.data, self.batch, self.steps * self.batch, rng,
                                                            with_negatives=self.with_neg))

    def train_epoch(self, epoch: int, prefetch: int) -> None:
        from hpdesc.training import callbacks as cb
        from hpdesc.training.loop import train_epoch

        train_epoch(self.trainer, self.batches(epoch), epoch=epoch, watchdog=cb.Watchdog(self.name),
                    prefetch=prefetch)

    def pipeline_only(self, epoch: int, prefetch: int) -> None:
        from hpdesc.data.batches import Prefetch

        source = self.batches(epoch)
        prepare = getattr(self.trainer, "prepare", None)
        if prepare is not None:
            source = map(prepare, source)
        last = None
        for last in Prefetch(source, prefetch):
            pass
        if last is not None and prepare is not None:
            import jax

            jax.block_until_ready(last)

    def infer(self, ds, seqs, batch: int) -> int:
        """``hpdesc describe`` (hardnet) / ``hpdesc denoise`` (dncnn) over ``seqs``; returns patches."""
        from hpdesc.inference.describe import describe_sequences
        from hpdesc.inference.pipeline import Pipeline

        if self.name == "dncnn":
            pipe = Pipeline(denoiser=self.net, batch_size=batch)
            n = 0
            for s in seqs:
                r = ds.rows(s)
                for lo in range(r.start, r.stop, 256):
                    n += pipe.denoise(ds.array("noisy")[lo:min(r.stop, lo + 256)]).size // 1024
            return n
        pipe = Pipeline(descriptor=self.net, batch_size=batch)
        return sum(d.shape[0] * d.shape[1] for _, d in describe_sequences(pipe, ds, seqs, kind="noisy"))


# -- PyTorch reference --------------------------------------------------------------------------------


def torch_reference(name: str, params: dict):
    """The same network in PyTorch (NCHW), initialised by PyTorch's defaults."""
    import torch
    from torch import nn

    if name == "dncnn":
        depth, f = params.get("depth", 17), params.get("filters", 64)

        class DnCNN(nn.Module):
            def __init__(self):
                super().__init__()
                layers = [nn.Conv2d(1, f, 3, padding=1), nn.ReLU(inplace=True)]
                for _ in range(depth - 2):
                    layers += [nn.Conv2d(f, f, 3, padding=1, bias=False), nn.BatchNorm2d(f, eps=1e-3),
                               nn.ReLU(inplace=True)]
                layers += [nn.Conv2d(f, 1, 3, padding=1)]
                self.body = nn.Sequential(*layers)

            def forward(self, x):
                return x - self.body(x).float()

        return DnCNN()
    f, dim, drop = params.get("filters", 32), params.get("dim", 128), params.get("dropout", 0.3)

    def block(cin, cout, stride):
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(cout, affine=False, eps=1e-3), nn.ReLU(inplace=True)]

    class HardNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(*block(1, f, 1), *block(f, f, 1), *block(f, 2 * f, 2),
                                          *block(2 * f, 2 * f, 1), *block(2 * f, 4 * f, 2),
                                          *block(4 * f, 4 * f, 1), nn.Dropout(drop),
                                          nn.Conv2d(4 * f, dim, 8, bias=True))

        def forward(self, x):
            flat = x.flatten(1)
            mean = flat.mean(1).view(-1, 1, 1, 1)
            std = flat.std(1, unbiased=False).view(-1, 1, 1, 1).detach()
            y = self.features((x - mean) / (std + 1e-7)).flatten(1).float()
            return torch.nn.functional.normalize(y, dim=1)

    return HardNet()


def hardnet_loss_torch(a, p, margin: float = 1.0, eps: float = 1e-6):
    import torch

    d = torch.sqrt(torch.clamp((a * a).sum(1)[:, None] + (p * p).sum(1)[None, :] - 2.0 * a @ p.t(), min=0.0) + eps)
    pos = torch.diagonal(d)
    off = d + torch.eye(d.shape[0], device=d.device) * 10.0
    neg = torch.minimum(off.min(1).values, off.min(0).values)
    return torch.relu(margin + pos - neg).mean()


class TorchBench:
    """The reference loop: hpdesc's numpy batches, prefetched and copied pinned + non-blocking."""

    def __init__(self, bench: Bench, precision: str, params: dict, compile_: bool = True):
        import torch

        self.torch, self.bench = torch, bench
        self.dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.amp = precision == "mixed"
        self.net = torch_reference(bench.name, params).to(self.dev).to(memory_format=torch.channels_last)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-4, fused=self.dev.type == "cuda")
        self.step = torch.compile(self._step) if compile_ else self._step
        self.infer_fn = torch.compile(self._infer) if compile_ else self._infer

    def _loss(self, xs, y):
        torch = self.torch
        with torch.autocast(self.dev.type, dtype=torch.bfloat16, enabled=self.amp):
            if self.bench.name == "dncnn":
                return torch.mean((self.net(xs[0]).float() - y) ** 2)
            out = self.net(torch.cat(xs, 0)).float()
            n = xs[0].shape[0]
            return hardnet_loss_torch(out[:n], out[n:2 * n])

    def _step(self, xs, y):
        loss = self._loss(xs, y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return loss.detach()

    def _infer(self, x):
        with self.torch.autocast(self.dev.type, dtype=self.torch.bfloat16, enabled=self.amp):
            return self.net(x)

    def to_device(self, arr):
        t = self.torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))
        if self.dev.type == "cuda":
            t = t.pin_memory().to(self.dev, non_blocking=True)
        return t.contiguous(memory_format=self.torch.channels_last)

    def prepared(self, epoch):
        for x, y in self.bench.batches(epoch):
            xs = tuple(self.to_device(v) for v in (x if isinstance(x, tuple) else (x,)))
            yield xs, (self.to_device(y) if y is not None else None)

    def train_epoch(self, epoch: int, prefetch: int) -> None:
        from hpdesc.data.batches import Prefetch

        self.net.train()
        total = None
        for xs, y in Prefetch(self.prepared(epoch), prefetch):
            loss = self.step(xs, y)
            total = loss if total is None else total + loss
        float(total)  # one read-back per epoch

    def infer(self, ds, seqs, batch: int) -> int:
        """The same work as Bench.infer: HDF5 chunks -> float batches -> network -> host numpy."""
        from hpdesc.data.batches import to_float, to_uint8

        torch = self.torch
        self.net.eval()
        n = 0
        with torch.no_grad():
            for s in seqs:
                r = ds.rows(s)
                for lo in range(r.start, r.stop, 256 if self.bench.name == "dncnn" else 2048):
                    flat = ds.array("noisy")[lo:min(r.stop, lo + (256 if self.bench.name == "dncnn" else 2048))]
                    flat = flat.reshape((-1, 32, 32))
                    outs = []
                    for b in range(0, len(flat), batch):
                        x = to_float(flat[b:b + batch])
                        if len(x) < batch:  # one shape for the compiled function, as hpdesc pads
                            x = np.concatenate([x, np.zeros((batch - len(x),) + x.shape[1:], x.dtype)])
                        outs.append(self.infer_fn(self.to_device(x)).float().cpu().numpy())
                    out = np.concatenate(outs)[:len(flat)]
                    if self.bench.name == "dncnn":
                        out = to_uint8(out.transpose(0, 2, 3, 1))
                    n += len(flat)
        return n

    def sync(self):
        if self.dev.type == "cuda":
            self.torch.cuda.synchronize()


# -- main ------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="an hpdesc patch dataset (.h5); default: a synthetic one in a temp dir")
    ap.add_argument("--rows", type=int, default=1024, help="patch rows (x 16 images) per synthetic sequence")
    ap.add_argument("--models", default="hardnet,dncnn")
    ap.add_argument("--precision", choices=("float32", "mixed"), default="float32")
    ap.add_argument("--hardnet-batch", type=int, default=128)
    ap.add_argument("--dncnn-batch", type=int, default=32)
    ap.add_argument("--infer-batch", type=int, default=256, help="inference batch (hpdesc describe uses 256)")
    ap.add_argument("--steps", type=int, default=10, help="training steps per timed epoch")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--prefetch", type=int, default=4)
    ap.add_argument("--infer-sequences", type=int, default=1, help="sequences described per inference timing")
    ap.add_argument("--set", action="append", default=[], metavar="MODEL.KEY=VALUE",
                    help="network parameter, e.g. dncnn.depth=9 (the torch reference follows)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    ap.add_argument("--no-compile", action="store_true", help="reference without torch.compile")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    import keras

    from hpdesc.data.store import open_dataset

    params: dict = {"hardnet": {}, "dncnn": {}}
    for item in args.set:
        key, _, value = item.partition("=")
        model, _, k = key.partition(".")
        try:
            params.setdefault(model, {})[k] = json.loads(value)
        except ValueError:
            params.setdefault(model, {})[k] = value

    try:
        import torch  # noqa: F401

        have_torch = not args.no_torch
    except ImportError:
        have_torch = False
    backend = keras.backend.backend()
    device = "cpu"
    if backend == "jax":
        import jax

        device = jax.devices()[0].platform
    elif backend == "tensorflow":
        import tensorflow as tf

        device = "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    print(f"hpdesc throughput: backend={backend} device={device} precision={args.precision} "
          f"cores={os.cpu_count()} torch={'yes' if have_torch else 'no'}", flush=True)

    tmp = None
    data = args.data
    if data is None:
        tmp = tempfile.TemporaryDirectory(prefix="hpdesc-bench-")
        data = synthetic_dataset(Path(tmp.name) / "bench.h5", n_patches=args.rows)
    results = []
    with open_dataset(data) as ds:
        seqs = list(ds.split("default")["train"])[:max(1, args.infer_sequences)]
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            batch = args.dncnn_batch if name == "dncnn" else args.hardnet_batch
            bench = Bench(name, ds, batch, args.steps, args.precision, params.get(name, {}))
            row = {"model": name, "backend": backend, "device": device, "precision": args.precision,
                   "batch": batch, "fast_path": bench.fast, "hdf5_load_s": round(bench.load_s, 3)}
            n_train = bench.per_step * args.steps
            epoch = iter(range(10 ** 6))
            row["pipeline"] = median_rate(lambda: bench.pipeline_only(next(epoch), args.prefetch), n_train, args.repeats)
            bench.train_epoch(next(epoch), args.prefetch)  # warm-up: compilation
            row["train"] = median_rate(lambda: bench.train_epoch(next(epoch), args.prefetch), n_train, args.repeats)
            n_inf = bench.infer(ds, seqs, args.infer_batch)  # warm-up
            row["infer"] = median_rate(lambda: bench.infer(ds, seqs, args.infer_batch), n_inf, args.repeats)
            if have_torch:
                ref = TorchBench(bench, args.precision, params.get(name, {}), compile_=not args.no_compile)
                ref.train_epoch(next(epoch), args.prefetch)
                ref.sync()
                row["torch_train"] = median_rate(lambda: ref.train_epoch(next(epoch), args.prefetch), n_train,
                                                 args.repeats)
                ref.infer(ds, seqs, args.infer_batch)
                row["torch_infer"] = median_rate(lambda: ref.infer(ds, seqs, args.infer_batch), n_inf, args.repeats)
                row["train_ratio"] = row["train"] / row["torch_train"]
                row["infer_ratio"] = row["infer"] / row["torch_infer"]
            results.append(row)
            line = (f"{name:8s} batch {batch:5d}  pipeline {row['pipeline']:10.0f}  train {row['train']:9.0f}  "
                    f"infer {row['infer']:9.0f} patches/s")
            if have_torch:
                line += (f" | torch train {row['torch_train']:9.0f} ({row['train_ratio']:.2f}x)  "
                         f"infer {row['torch_infer']:9.0f} ({row['infer_ratio']:.2f}x)")
            print(line, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
