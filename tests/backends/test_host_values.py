"""The host part of a rule: hyperparameter-only arithmetic in float64, once per call.

Python floats take a fast plain-Python path; every other kind of number, IEEE special
cases and array hyperparameters take the NumPy path. Both must give the same bits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from optkit._exec.host import Floats, host_values
from optkit.rules import adam, rule
from optkit.rules.math import sqrt


@rule()
def _powered(p, g, *, lr, k, base):
    return (p - (lr * base**k) * g,)


@rule()
def _rooted(p, g, *, lr, c):
    return (p - (lr / c) * sqrt(c) * g,)


ADAM = dict(step_size=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, sign=1.0,
            weight_decay=0.0, shrink=1.0, bc2=1 - 0.999**7)  # fmt: skip


def _wide(rule_, hypers):
    """The NumPy path, forced by a 1-element array hyperparameter."""
    name = rule_.hypers[0]
    values = host_values(rule_, {**hypers, name: np.array([hypers[name]])})
    return [float(np.asarray(v).reshape(-1)[0]) for v in values]


def test_python_floats_take_the_fast_path_and_match_numpy():
    fast = host_values(adam, ADAM)
    assert type(fast) is Floats and all(type(v) is float for v in fast)
    assert fast == _wide(adam, ADAM)


@pytest.mark.parametrize(
    "convert", [int, np.float64, np.float32, np.array, bool], ids=lambda f: f.__name__
)
def test_other_numbers_are_converted_like_floats(convert):
    hypers = {**ADAM, "weight_decay": convert(0), "sign": convert(1)}
    values = host_values(adam, hypers)
    assert all(type(v) is float for v in values)
    assert list(values) == list(host_values(adam, ADAM))


def test_an_array_hyperparameter_gives_arrays():
    values = host_values(adam, {**ADAM, "step_size": np.array([1e-3, 2e-3])})
    assert type(values) is not Floats
    assert any(np.ndim(v) == 1 for v in values)


def test_ieee_special_cases_give_inf_and_nan_not_exceptions():
    # a negative base to a fractional power: NaN (Python's ** would give a complex)
    (v,) = host_values(_powered, dict(lr=1.0, k=0.5, base=-4.0))
    assert math.isnan(float(v))
    # an overflowing power: inf; a division by zero: inf
    (v,) = host_values(_powered, dict(lr=1.0, k=400.0, base=10.0))
    assert float(v) == math.inf
    values = host_values(_rooted, dict(lr=1.0, c=0.0))
    assert any(math.isinf(float(v)) or math.isnan(float(v)) for v in values)


def test_powers_use_the_c_library_on_both_paths():
    hypers = dict(lr=0.5, k=7.3, base=0.91)
    (fast,) = host_values(_powered, hypers)
    assert type(fast) is float
    assert fast == 0.5 * math.pow(0.91, 7.3) == _wide(_powered, hypers)[0]
