"""make_extractor: named descriptors and runs, the patch pipeline, noise, whole-image denoising, errors."""

from __future__ import annotations

import numpy as np
import pytest

from hpdesc.data.sequences import read_image
from hpdesc.errors import UsageError
from hpdesc.inference.pipeline import Pipeline
from hpdesc.matching import keypoints as K
from hpdesc.matching.extract import add_noise, make_extractor
from tests.matching.imagepath import photo_pair, tiny_run  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def image(photo_pair):
    return read_image(photo_pair[0])


@pytest.mark.parametrize("name, dim", [("sift", 128), ("raw", 1024)])
def test_named_descriptor(image, name, dim):
    ext = make_extractor(descriptor=name, max_keypoints=100)
    f = ext(image)
    assert ext.name == ext.method == name
    assert len(f) == 100 and f.dim == dim and f.keypoints.shape == (100, 2)
    assert np.all(np.diff(f.scores) <= 0)  # strongest first
    assert np.allclose(np.linalg.norm(f.descriptors, axis=1), 1, atol=1e-3)
    again = ext(image)
    assert np.array_equal(again.descriptors, f.descriptors) and np.array_equal(again.keypoints, f.keypoints)
    assert set(ext.timings) == {"noise", "detect", "patches", "denoise", "describe"}


def test_run_follows_the_patch_pipeline(image, tiny_run):
    """Per patch: noisy uint8 patches -> denoiser -> uint8 -> descriptor, as Pipeline.describe does."""
    from hpdesc.inference.pipeline import Pipeline
    from hpdesc.training.load import load_run

    ext = make_extractor(run=tiny_run, max_keypoints=64, whole_image=False)
    assert ext.name == "dncnn+hardnet (run tinyrun)" and ext.method == "hpdesc-tinyrun"
    assert not ext.whole_image
    f = ext(image)
    lr = load_run(tiny_run)
    kps = K.detect(K.to_uint8(image), "sift", 64)
    want = Pipeline(lr.denoiser, lr.descriptor).describe(K.cut_patches(K.to_uint8(image), kps))
    assert f.dim == 16 and np.allclose(f.keypoints, kps.xy)
    assert np.allclose(f.descriptors, want, atol=1e-5)
    undenoised = Pipeline(None, lr.descriptor).describe(K.cut_patches(K.to_uint8(image), kps))
    assert not np.allclose(f.descriptors, undenoised, atol=1e-3)  # the denoiser did run


def test_whole_image_mode_runs_the_denoiser_on_the_image(image, tiny_run):
    from hpdesc.inference.pipeline import Pipeline
    from hpdesc.training.load import load_run
    from hpdesc.inference.wholeimage import ImageDenoiser

    ext = make_extractor(run=tiny_run, max_keypoints=64, whole_image=True)
    assert ext.whole_image and ext.detect_on == "denoised"
    f = ext(image)
    lr = load_run(tiny_run)
    den = ImageDenoiser(lr.denoiser)(K.to_uint8(image))
    kps = K.detect(den, "sift", 64)  # detected on the denoised image (the default)
    want = Pipeline(None, lr.descriptor).describe(K.cut_patches(den, kps))
    assert np.allclose(f.keypoints, kps.xy) and np.allclose(f.descriptors, want, atol=1e-5)
    # detect_on="noisy": keypoints of the input image, patches from the denoised one
    ext = make_extractor(run=tiny_run, max_keypoints=64, whole_image=True, detect_on="noisy")
    assert "detect_noisy" in ext.method
    f = ext(image)
    kps = K.detect(K.to_uint8(image), "sift", 64)
    want = Pipeline(None, lr.descriptor).describe(K.cut_patches(den, kps))
    assert np.allclose(f.keypoints, kps.xy) and np.allclose(f.descriptors, want, atol=1e-5)


def test_named_denoiser_in_front_of_a_named_descriptor(image):
    """--denoiser nlmeans --descriptor sift: nlmeans on the whole (noisy) image, SIFT keypoints and
    descriptors on its output; a patch-only denoiser runs per patch; parameters by role."""
    from hpdesc.models.denoisers.classical import NlMeans
    from hpdesc.validate import build_checked

    ext = make_extractor(descriptor="sift", denoiser="nlmeans", max_keypoints=80, noise="t",
                         sets=["denoiser.h=15"])
    assert ext.whole_image and ext.name.startswith("nlmeans (h=15)+sift") and ext.method.startswith("nlmeans-h_15+sift")
    f = ext(image)
    den = NlMeans(h=15).filter(add_noise(image, "t", 0))
    kps = K.detect(den, "sift", 80)
    want = Pipeline(None, build_checked("descriptor", "sift", {})).describe(K.cut_patches(den, kps))
    assert np.allclose(f.keypoints, kps.xy) and np.allclose(f.descriptors, want, atol=1e-5)
    plain = make_extractor(descriptor="sift", max_keypoints=80, noise="t")(image)
    assert len(plain) != len(f) or not np.allclose(plain.keypoints, f.keypoints)  # the denoiser changed what is seen
    assert make_extractor(descriptor="sift", denoiser="none").image_denoiser is None
    with pytest.raises(UsageError, match="run's own denoiser"):
        make_extractor(run="whatever", denoiser="nlmeans")
    with pytest.raises(Exception, match="nosuch"):
        make_extractor(descriptor="sift", denoiser="nosuch")
    with pytest.raises(Exception, match="take descriptor.PARAM=VALUE"):
        make_extractor(descriptor="sift", sets=["denoiser.h=3"])  # no denoiser named: its parameter cannot act
    with pytest.raises(UsageError, match="detect_on"):
        make_extractor(descriptor="sift", detect_on="noisy")  # nothing denoises the image


def test_noise_is_seeded_and_named(image):
    a = make_extractor(descriptor="sift", max_keypoints=50, noise="t", seed=1)
    b = make_extractor(descriptor="sift", max_keypoints=50, noise="t", seed=2)
    assert a.method == "sift-noise_t" and "noise t" in a.name
    fa, fa2, fb = a(image), a(image), b(image)
    assert np.array_equal(fa.descriptors, fa2.descriptors)
    assert not np.array_equal(fa.keypoints, fb.keypoints)
    noisy = add_noise(image, "t", 0).astype(float)
    std = (noisy - np.rint(image * 255)).std()
    assert 12 < std < 30  # tough level: about 20 grey levels at mid-grey
    assert make_extractor(descriptor="sift", noise="none").noise is None


def test_descriptor_parameters_take_effect_and_name_the_method(image):
    plain = make_extractor(descriptor="sift", max_keypoints=30)
    root = make_extractor(descriptor="sift", max_keypoints=30, sets=["descriptor.root=true"])
    assert root.method == "sift-root_True" and root.name == "sift (root=True)"
    a, b = plain(image), root(image)
    assert np.allclose(b.descriptors, np.sqrt(a.descriptors / a.descriptors.sum(1, keepdims=True)), atol=1e-3)


def test_other_detectors_name_the_method(image):
    ext = make_extractor(descriptor="sift", detector="orb", max_keypoints=40)
    assert ext.method == "sift-orb" and len(ext(image)) == 40


@pytest.mark.parametrize("kwargs, text", [
    ({}, "exactly one"),
    ({"descriptor": "sift", "run": "x"}, "exactly one"),
    ({"descriptor": "sift", "detector": "sfit"}, "unknown detector"),
    ({"descriptor": "sift", "max_keypoints": 0}, "max_keypoints"),
    ({"descriptor": "sift", "noise": "x"}, "noise level"),
    ({"descriptor": "sift", "whole_image": True}, "whole_image"),
    ({"descriptor": "sfit"}, "sift"),
    ({"descriptor": "sift", "sets": ["denoiser.depth=3"]}, "descriptor.PARAM"),
])
def test_bad_settings_are_one_line_errors(kwargs, text):
    with pytest.raises(UsageError, match=text):
        make_extractor(**kwargs)


def test_run_refuses_sets(tiny_run):
    with pytest.raises(UsageError, match="cannot take effect"):
        make_extractor(run=tiny_run, sets=["descriptor.dim=8"])


def test_detect_on_without_a_whole_image_denoiser_is_an_error_unless_the_caller_checks_it():
    from hpdesc.matching.extract import DETECT_ON_DEFAULT, make_extractor

    with pytest.raises(UsageError, match="detect_on='noisy' cannot take effect"):
        make_extractor(descriptor="sift", detect_on="noisy")
    ext = make_extractor(descriptor="sift", detect_on="noisy", detect_on_if_denoised=True)
    assert ext.image_denoiser is None and ext.detect_on == DETECT_ON_DEFAULT and "detect" not in ext.method
    ext = make_extractor(descriptor="sift", denoiser="median", detect_on="noisy", detect_on_if_denoised=True)
    assert ext.image_denoiser is not None and ext.detect_on == "noisy"
