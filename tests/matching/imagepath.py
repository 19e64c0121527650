"""Fixtures of the image-path tests (imported by them): a photo pair related by a known homography, a tiny run."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

H_TRUE = np.array([[0.9, 0.1, 18.0], [-0.07, 0.92, 14.0], [3e-4, 1e-4, 1.0]])


@pytest.fixture(scope="session")
def photo_pair(tmp_path_factory):
    """``(path1, path2, H)``: a 240x320 crop of a photograph and its warp by ``H`` (PNG files)."""
    from hpdesc.data.photos import load_photo

    folder = tmp_path_factory.mktemp("pair")
    a = np.rint(load_photo("coffee")[40:280, 100:420] * 255).astype(np.uint8)
    b = cv2.warpPerspective(a, H_TRUE, (320, 240), flags=cv2.INTER_LINEAR)
    p1, p2 = folder / "1.png", folder / "2.png"
    cv2.imwrite(str(p1), a)
    cv2.imwrite(str(p2), b)
    return p1, p2, H_TRUE


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run directory made by hand (no training): a 3-layer DnCNN and a 16-d HardNet, random weights."""
    from hpdesc import api, registry
    from hpdesc.training.run import RunDir

    run = RunDir(tmp_path_factory.mktemp("runs") / "tinyrun")
    run.path.mkdir()
    cfg = api.resolve_config(denoiser="dncnn", descriptor="hardnet",
                             sets=["denoiser.depth=3", "denoiser.filters=8", "denoiser.final_init=orthogonal",
                                   "descriptor.filters=4", "descriptor.dim=16"])
    cfg.save(run.config)
    registry.build("denoiser", "dncnn", input_shape=(32, 32, 1), depth=3, filters=8,
                   final_init="orthogonal").save(run.model("denoiser"))
    registry.build("descriptor", "hardnet", input_shape=(32, 32, 1), filters=4, dim=16).save(run.model("descriptor"))
    return run.path
