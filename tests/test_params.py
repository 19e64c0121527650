"""hpdesc.params: the parameter checks factories (hpdesc's and plugins') use."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hpdesc import params as P
from hpdesc.errors import ParameterError


def test_check_int():
    assert P.check_int("depth", 3) == 3 and type(P.check_int("depth", 3)) is int
    assert P.check_int("hidden", 0, minimum=0) == 0
    for bad, what in ((0, ">= 1"), (2.0, "an integer"), (True, "an integer"), ("3", "an integer")):
        with pytest.raises(ParameterError, match=f"parameter 'depth' must be {what}"):
            P.check_int("depth", bad)


def test_check_float():
    assert P.check_float("rate", 1) == 1.0 and type(P.check_float("rate", 1)) is float
    assert P.check_float("rate", 1.0, minimum=0.0, maximum=1.0) == 1.0
    with pytest.raises(ParameterError, match=r"'rate' must be < 1.0"):
        P.check_float("rate", 1.0, maximum=1.0, include_max=False)
    with pytest.raises(ParameterError, match=r"'rate' must be >= 0.0"):
        P.check_float("rate", -0.5, minimum=0.0)
    for bad in (float("nan"), False, "0.1", None):
        with pytest.raises(ParameterError, match="'rate' must be a number"):
            P.check_float("rate", bad)


def test_check_bool():
    assert P.check_bool("bn", False) is False
    with pytest.raises(ParameterError, match="'bn' must be true or false, got 1"):
        P.check_bool("bn", 1)


def test_check_applies():
    P.check_applies("alpha", None, False, "activation=leaky_relu", "activation='relu'")  # not given
    P.check_applies("alpha", 0.2, True, "activation=leaky_relu", "activation='leaky_relu'")
    with pytest.raises(ParameterError, match=r"'alpha' only applies with activation=leaky_relu \(this call has "
                                             r"activation='relu'\): remove alpha"):
        P.check_applies("alpha", 0.2, False, "activation=leaky_relu", "activation='relu'")


def test_check_input_shape():
    assert P.check_input_shape([32, 32, 1], divisor=4) == (32, 32, 1)
    for bad, what in (((32, 32), r"\(H, W, C\)"), ("abc", r"\(H, W, C\)"), ((30, 32, 1), "divisible by 4"),
                      ((2, 2, 1), "H, W >= 4")):
        with pytest.raises(ParameterError, match=what):
            P.check_input_shape(bad, divisor=4 if what == "divisible by 4" else 1,
                                minimum=4 if "H, W" in what else 1)


def test_parameter_error_is_the_errors_one_and_a_value_error():
    assert P.ParameterError is ParameterError and issubclass(ParameterError, ValueError)


def test_layers_reexports_the_same_checks_for_existing_plugins():
    from hpdesc.models import layers

    for name in ("check_int", "check_float", "check_bool", "check_applies", "check_input_shape"):
        assert getattr(layers, name) is getattr(P, name)


def test_params_imports_neither_keras_nor_numpy():
    code = ("import sys, hpdesc.params; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'numpy') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip() == "[]", res.stdout
