"""The noise model: deterministic, level-ordered, signal-dependent, recorded as a dict."""

from __future__ import annotations

import numpy as np
import pytest

from hpdesc.data.images import IMAGES
from hpdesc.data.noise import NoiseModel
from hpdesc.errors import ConfigError


def _flat(value: int, n: int = 64) -> np.ndarray:
    return np.full((n, len(IMAGES), 32, 32), value, dtype=np.uint8)


def test_deterministic_given_rng():
    clean = np.random.default_rng(0).integers(0, 256, (8, 16, 32, 32), dtype=np.uint8)
    m = NoiseModel()
    a = m.apply(clean, np.random.default_rng(3))
    b = m.apply(clean, np.random.default_rng(3))
    c = m.apply(clean, np.random.default_rng(4))
    assert a.dtype == np.uint8 and a.shape == clean.shape
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_strength_increases_easy_hard_tough():
    clean = _flat(128)
    noisy = NoiseModel().apply(clean, np.random.default_rng(0)).astype(float)
    std = (noisy - clean).std(axis=(0, 2, 3))
    e, h, t = std[1:6].mean(), std[6:11].mean(), std[11:16].mean()
    assert 6 < e < h < t < 30
    assert abs(std[0] - e) < 1.0  # ref gets the easy level by default
    assert NoiseModel().std_at("e") < NoiseModel().std_at("h") < NoiseModel().std_at("t")


def test_shot_noise_grows_with_brightness():
    m = NoiseModel(read_sigma_e=0, read_sigma_h=0, read_sigma_t=0)
    dark = m.apply(_flat(20), np.random.default_rng(0)).astype(float) - 20
    bright = m.apply(_flat(200), np.random.default_rng(0)).astype(float) - 200
    assert bright[:, 1:].std() > 2 * dark[:, 1:].std()


def test_clean_ref_level_and_clipping():
    clean = _flat(250)
    noisy = NoiseModel(ref_level="clean").apply(clean, np.random.default_rng(0))
    assert np.array_equal(noisy[:, 0], clean[:, 0])
    assert noisy.max() == 255  # clipped, not wrapped
    assert noisy[:, 1:].min() > 90  # not wrapped round to dark values either


def test_dict_round_trip_and_validation():
    m = NoiseModel(read_sigma_t=21.0)
    d = m.to_dict()
    assert d["model"] == "poisson-gaussian" and d["read_sigma_t"] == 21.0
    assert NoiseModel.from_dict(d) == m
    with pytest.raises(ConfigError, match="unknown noise parameter"):
        NoiseModel.from_dict({"sigma": 3})
    with pytest.raises(ConfigError, match="read_sigma_e"):
        NoiseModel(read_sigma_e=-1)
    with pytest.raises(ConfigError, match="ref_level"):
        NoiseModel(ref_level="x")
