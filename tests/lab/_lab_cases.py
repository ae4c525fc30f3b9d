"""The problem catalogue the lab tests iterate, and helpers shared by them."""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import pytest

from optkit import problems

HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None
needs_sklearn = pytest.mark.skipif(not HAS_SKLEARN, reason="needs scikit-learn")

#: id -> factory; small sizes so that dense Hessians and coordinate-wise finite
#: differences stay cheap. Every registered problem appears at least once.
CASES = {
    "quadratic-rotated": lambda: problems.quadratic(dim=5, kappa=100.0, seed=3),
    "quadratic-axes-zero-eig": lambda: problems.quadratic(
        eigenvalues=[0.0, 0.5, 2.0, 30.0], rotate=False
    ),
    "quadratic-noise": lambda: problems.quadratic(dim=7, kappa=10.0, noise=0.3),
    "rosenbrock-2": lambda: problems.rosenbrock(2),
    "rosenbrock-4": lambda: problems.rosenbrock(4, noise=0.1),
    "beale": problems.beale,
    "himmelblau": problems.himmelblau,
    "rastrigin": lambda: problems.rastrigin(3),
    "styblinski_tang": lambda: problems.styblinski_tang(3),
    "saddle-quadratic": lambda: problems.saddle(eigenvalues=[2.0, 1.0, -1.0, -0.5]),
    "saddle-monkey": lambda: problems.saddle("monkey", dim=3),
    "cliff": problems.cliff,
    "deep_linear-tied": lambda: problems.deep_linear(depth=4, width=3, spectral_radius=0.9),
    "deep_linear-untied": lambda: problems.deep_linear(
        depth=3, width=2, tied=False, init="gaussian"
    ),
    "logistic-breast_cancer": lambda: problems.logistic_regression(
        "breast_cancer", batch_size=8
    ),
    "logistic-digits": lambda: problems.logistic_regression(
        "digits", l2=1e-2, batch_size=8
    ),
}
PARAMS = [
    pytest.param(factory, id=name, marks=[needs_sklearn] if "logistic" in name else [])
    for name, factory in CASES.items()
]


@functools.cache
def build(factory):
    """One instance per factory for the whole session (data sets load once)."""
    return factory()


def points(problem, rows: int, seed: int = 0) -> np.ndarray:
    """``rows`` random points in the problem's bounds (shrunk for the data problems,
    whose bounds are a box for starts, not a scale)."""
    rng = np.random.default_rng(seed)
    low, high = problem.bounds
    x = rng.uniform(low, high, size=(rows, problem.dim))
    if problem.name == "logistic_regression":
        x = 0.2 * x
    return x
