"""Parameters that cannot take effect are refused, naming the parameter and what to do.

``alpha`` shapes LeakyReLU only: with any other activation it did nothing, so the README's old
``--set denoiser.alpha=0.2`` changed nothing. The same for ``activation`` / ``alpha`` of
ResNet-50 without its dense head (``hidden=0``), ``bn`` of a DnCNN / FFDNet too shallow to have
a batch-normalised layer (``depth=2``), and a ``dim`` that ``raw`` / ``sift`` cannot produce.
"""

from __future__ import annotations

import importlib.metadata
import inspect

import keras
import pytest

from hpdesc import config as C
from hpdesc import registry
from hpdesc.errors import UsageError

SHAPE = (16, 16, 1)


def _trainable():
    out = []
    for group, kind in (("hpdesc.denoisers", "denoiser"), ("hpdesc.descriptors", "descriptor")):
        for ep in sorted(importlib.metadata.entry_points(group=group), key=lambda e: e.name):
            if "activation" in inspect.signature(ep.load()).parameters:
                out.append((kind, ep))
    return out


TRAINABLE = _trainable()
IDS = [f"{k}-{ep.name}" for k, ep in TRAINABLE]
SMALL = {"dncnn": {"depth": 3, "filters": 4}, "unet": {"filters": 4}, "unet16": {"filters": 4},
         "autoencoder": {"filters": 4}, "hardnet": {"filters": 4, "dim": 8},
         "ffdnet": {"depth": 3, "filters": 4}}


def _build(ep, **params):
    return ep.load()(input_shape=(32, 32, 1) if ep.name == "resnet50" else SHAPE,
                     **SMALL.get(ep.name, {}), **params)


def _slopes(model):
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += _slopes(layer)
        elif isinstance(layer, keras.layers.LeakyReLU):
            found.append(round(float(layer.negative_slope), 6))
    return found


@pytest.mark.parametrize("kind, ep", TRAINABLE, ids=IDS)
def test_alpha_without_leaky_relu_is_refused(kind, ep):
    with pytest.raises(ValueError, match=r"'alpha' only applies with activation=leaky_relu.*remove alpha"):
        ep.load()(alpha=0.2)
    with pytest.raises(ValueError, match=r"'alpha' only applies with activation=leaky_relu"):
        ep.load()(activation="relu", alpha=0.1)
    with pytest.raises(ValueError, match="alpha"):
        ep.load()(activation="leaky_relu", alpha=-1.0)


@pytest.mark.parametrize("kind, ep", [t for t in TRAINABLE if t[1].name != "resnet50"],
                         ids=[i for i, t in zip(IDS, TRAINABLE) if t[1].name != "resnet50"])
def test_leaky_relu_default_and_given_alpha(kind, ep):
    assert set(_slopes(_build(ep, activation="leaky_relu"))) == {0.2}  # the default slope
    assert set(_slopes(_build(ep, activation="leaky_relu", alpha=0.05))) == {0.05}


def test_resnet50_head_parameters_need_the_head():
    factory = registry.load("descriptor", "resnet50")
    for params in ({"activation": "leaky_relu"}, {"activation": "relu"}, {"alpha": 0.1},
                   {"activation": "leaky_relu", "alpha": 0.1}):
        with pytest.raises(ValueError, match=r"only applies with hidden > 0.*hidden=0"):
            factory(hidden=0, **params)


@pytest.mark.parametrize("name", ["dncnn", "ffdnet"])
def test_bn_of_a_network_without_a_middle_layer_is_refused(name):
    try:
        factory = registry.load("denoiser", name)
    except Exception:  # noqa: BLE001 - the plugin may not be installed
        pytest.skip(f"{name} is not installed")
    for bn in (True, False):
        with pytest.raises(ValueError, match=r"'bn' only applies with depth >= 3.*depth=2"):
            factory(input_shape=SHAPE, depth=2, filters=4, bn=bn)
    factory(input_shape=SHAPE, depth=2, filters=4)  # not given: fine
    model = factory(input_shape=SHAPE, depth=3, filters=4, bn=False)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def test_registry_reports_it_as_a_usage_error():
    with pytest.raises(UsageError, match=r"denoiser 'dncnn'.*'alpha' only applies with activation=leaky_relu"):
        registry.build("denoiser", "dncnn", input_shape=SHAPE, depth=3, filters=4, alpha=0.2)


@pytest.mark.parametrize("name, params", [("raw", {"dim": 64}), ("sift", {"dim": 64}),
                                          ("raw", {"size": 8, "dim": 128})])
def test_a_dim_the_baseline_cannot_produce_is_refused(name, params):
    from hpdesc.validate import build_checked

    with pytest.raises(UsageError, match=rf"descriptor {name!r} outputs \d+-d descriptors.*dim={params['dim']}"):
        build_checked("descriptor", name, params)


def test_a_dim_the_baseline_produces_is_fine():
    from hpdesc.validate import build_checked, check_components

    build_checked("descriptor", "raw", {"size": 8, "dim": 64})
    build_checked("descriptor", "raw", {"size": 8})  # dim not given: the contract's 128 is no choice
    with pytest.raises(UsageError, match="raw' outputs 1024-d"):  # the training path
        check_components(C.resolve(sets=["denoiser=identity", "descriptor=raw", "descriptor.dim=64"]))


def _example_sets(text: str) -> tuple[dict, list[str]]:
    import re

    if "hpdesc.train(" in text:  # the Python API example
        flags = dict(re.findall(r'\b(denoiser|descriptor)="(\w+)"', text))
        return flags, re.findall(r'"(\w+\.\w+=[^"]+)"', text)
    words = text.replace("`", " ").split()
    flags, sets = {}, []
    for i, w in enumerate(words):
        if w == "--set":
            sets.append(words[i + 1])
        elif w in ("--denoiser", "--descriptor"):
            flags[w[2:]] = words[i + 1]
    return flags, sets


def _examples():
    import re
    from pathlib import Path

    from hpdesc.cli.train import _train

    root = Path(__file__).parents[2]
    texts = [(root / "README.md").read_text(), (root / "docs" / "training.md").read_text(), inspect.getdoc(_train)]
    lines = [ln.split("#")[0] for text in texts for ln in text.replace("\\\n", " ").splitlines()
             if "hpdesc train" in ln and "alpha" in ln]
    lines += [" ".join(call.split()) for text in texts for call in re.findall(r"hpdesc\.train\([^)]*\)", text)
              if "alpha" in call]
    assert lines
    return lines


@pytest.mark.parametrize("line", _examples())
def test_documented_alpha_examples_take_effect(line):
    from hpdesc import api
    from hpdesc.validate import build_checked

    flags, sets = _example_sets(line)
    assert sets, line
    cfg = api.resolve_config(sets=sets, **flags)
    params = dict(cfg.denoiser.params)
    assert params.get("activation") == "leaky_relu" and "alpha" in params, line
    params.update({"depth": 3} if cfg.denoiser.name == "dncnn" else {}, filters=4)
    model = build_checked("denoiser", cfg.denoiser.name, params)
    assert set(_slopes(model)) == {params["alpha"]}
