"""hpdesc.errors: the one "Did you mean" helper every unknown-name message uses."""

from hpdesc.errors import did_you_mean


def test_suggests_the_closest_option_quoted():
    assert did_you_mean("hardnett", ["hardnet", "tfeat", "sift"]) == ". Did you mean 'hardnet'?"


def test_nothing_when_nothing_is_close():
    assert did_you_mean("zzz", ["hardnet", "tfeat"]) == ""
    assert did_you_mean("x", []) == ""


def test_show_and_cutoff():
    assert did_you_mean("epoch", {"epochs": 1}, show=lambda k: f"training.{k}") == ". Did you mean training.epochs?"
    assert did_you_mean("unt", ["unet"], cutoff=0.9) == ""
    assert did_you_mean("unt", ["unet"], cutoff=0.5) == ". Did you mean 'unet'?"
