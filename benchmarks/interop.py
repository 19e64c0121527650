"""kornia's HardNet under noise through hpdesc's ``onnx`` descriptor, with and without a trained hpdesc denoiser.

Makes the table in docs/interop.md. Needs the ``interop`` extra (torch + kornia). Steps, every
hpdesc step a CLI command run as a subprocess (printed as it runs, so the doc can quote them):

1. kornia's ``HardNet(pretrained=False)`` with seeded random convolution weights (no downloads);
   its batch norm statistics are set by running it in train mode over ``--calib`` clean training
   patches of the embedded dataset (no gradient step), then it is exported to ONNX
   (``torch.onnx.export(..., dynamo=False)``).
2. Patch level, the embedded dataset's test split: ``hpdesc describe --descriptor onnx`` and
   ``hpdesc describe --run RUN`` (a DnCNN trained by ``hpdesc train --denoiser dncnn --descriptor
   onnx``, which trains only the denoiser), both scored by one ``hpdesc benchmark --compare``.
3. Image level: ``hpdesc data synth --sequences`` and ``hpdesc benchmark images`` at noise
   ``--noise`` (default ``t``, the hardest level), for the ONNX descriptor alone and for the run.

Usage (about 15 min on 2 busy cores)::

    python benchmarks/interop.py --out /tmp/interop
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path


def hpdesc(*args, log: list) -> None:
    cmd = ["hpdesc", *map(str, args)]
    print("$ " + shlex.join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "HPDESC_NO_PROGRESS": "1"})
    log.append({"command": shlex.join(cmd), "seconds": round(time.perf_counter() - t0, 1)})


def export_hardnet(data: Path, out: Path, calib: int, seed: int) -> None:
    import numpy as np
    import torch
    from kornia.feature import HardNet

    from hpdesc.data import batches as B
    from hpdesc.data.store import open_dataset

    torch.manual_seed(seed)
    model = HardNet(pretrained=False)
    with open_dataset(data) as ds:
        seqs = list(ds.split("default")["train"])
        clean = B.load_patches(ds, seqs, kinds=("clean",)).arrays["clean"].reshape(-1, 32, 32)
    rng = np.random.default_rng(seed)
    x = clean[rng.choice(len(clean), size=min(calib, len(clean)), replace=False)].astype(np.float32) / 255.0
    model.train()
    with torch.no_grad():  # batch norm statistics only: momentum 0.1, so a few passes settle them
        for _ in range(20):
            model(torch.from_numpy(x[:, None]))
    model.eval()
    torch.onnx.export(torch.nn.Sequential(model).eval(), torch.rand(2, 1, 32, 32), str(out), dynamo=False,
                      input_names=["patches"], output_names=["descriptors"],
                      dynamic_axes={"patches": {0: "B"}, "descriptors": {0: "B"}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--noise", default="t", help="image-level noise level (e, h, t)")
    ap.add_argument("--max-keypoints", type=int, default=256)
    ap.add_argument("--calib", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--table-only", action="store_true", help="only print the table of an earlier --out")
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    log: list = []
    if not args.table_only:
        run_steps(args, out, log)
    table(args, out, log)


def run_steps(args, out: Path, log: list) -> None:

    from hpdesc.api import default_data_path

    data = default_data_path()
    onnx_file = out / "hardnet.onnx"
    export_hardnet(data, onnx_file, args.calib, args.seed)
    path_set = f"descriptor.path={onnx_file}"
    run = out / "run-dncnn-onnx"
    if not (run / "benchmark.json").exists():
        hpdesc("train", "--denoiser", "dncnn", "--descriptor", "onnx", "--set", path_set,
               "--set", "benchmark.baselines=['raw']", "--out", run, log=log)
    hpdesc("describe", "--descriptor", "onnx", "--set", path_set, "--split", "default", "--out",
           out / "onnx.h5", log=log)
    hpdesc("describe", "--run", run, "--split", "default", "--out", out / "dncnn-onnx.h5", log=log)
    hpdesc("benchmark", "--descriptors", out / "onnx.h5", "--compare", out / "dncnn-onnx.h5",
           "--json", out / "patch.json", log=log)
    seqs = out / "seqs"
    hpdesc("data", "synth", "--sequences", seqs, log=log)
    common = ["--noise", args.noise, "--max-keypoints", args.max_keypoints]
    hpdesc("benchmark", "images", seqs, "--descriptor", "onnx", "--set", path_set, *common,
           "--json", out / "images-onnx.json", log=log)
    hpdesc("benchmark", "images", seqs, "--run", run, *common, "--json", out / "images-run.json", log=log)


def table(args, out: Path, log: list) -> None:
    patch = json.loads((out / "patch.json").read_text())
    patch = patch["results"] if "results" in patch else [patch]
    rows = []
    for label, pres, img in (("kornia HardNet (random weights), ONNX", patch[0], "images-onnx.json"),
                             ("trained DnCNN + the same ONNX HardNet", patch[1], "images-run.json")):
        m = json.loads((out / img).read_text())["methods"][0]["groups"]["overall"]
        rows.append({"method": label, **{k: pres["headline"][k] for k in ("verification", "matching", "retrieval")},
                     "mma3": m["mma"][2], "h3": m["homography"]["shares"]["3"]})
    (out / "table.json").write_text(json.dumps({"rows": rows, "commands": log}, indent=2))
    print(f"\n| method | verification mAP | matching mAP | retrieval mAP | MMA@3px (noise {args.noise}) "
          f"| homography <= 3 px |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['method']} | {100 * r['verification']:.2f} | {100 * r['matching']:.2f} | "
              f"{100 * r['retrieval']:.2f} | {100 * r['mma3']:.1f} | {100 * r['h3']:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
