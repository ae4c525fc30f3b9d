"""Curvature diagnostics against dense linear algebra (numpy.linalg.eigh)."""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest
from _lab_cases import needs_sklearn

from optkit import diagnostics, problems


class Counting:
    """A problem wrapper that counts Hessian-vector products."""

    def __init__(self, problem):
        self.problem, self.dim, self.hvps = problem, problem.dim, 0

    def hvp(self, x, v):
        self.hvps += 1
        return self.problem.hvp(x, v)

    def grad(self, x):
        return self.problem.grad(x)

    def hessian(self, x):
        return self.problem.hessian(x)


# ----------------------------------------------------------------------- curvature
@pytest.mark.parametrize("rotate", [False, True])
def test_curvature_predicts_a_gradient_step_on_a_quadratic_exactly(rotate):
    q = problems.quadratic(dim=8, kappa=100.0, rotate=rotate)
    x = np.random.default_rng(0).standard_normal((5, 8))
    lr = np.array([1e-3, 1e-2, 1.9e-2, 2.1e-2, 5e-2])  # around 2/λ_max = 0.02
    c = diagnostics.curvature(q, x, lr=lr)
    g = q.grad(x)
    np.testing.assert_allclose(c.gTg, np.sum(g * g, axis=1), rtol=1e-13)
    np.testing.assert_allclose(
        c.gTHg, np.einsum("ki,ij,kj->k", g, q.hessian(x[0]), g), rtol=1e-10
    )
    actual = q.value(x - lr[:, None] * g) - q.value(x)
    np.testing.assert_allclose(c.predicted_change, actual, rtol=1e-8)
    np.testing.assert_array_equal(c.raises, actual > 0)
    best = q.value(x - c.optimal_lr[:, None] * g)
    assert np.all(best <= q.value(x - lr[:, None] * g) + 1e-12)


def test_curvature_flags_the_steps_that_raise_the_cost():
    q = problems.quadratic(eigenvalues=[1.0, 100.0], rotate=False)
    x = np.array([1.0, 1.0])
    assert not bool(diagnostics.curvature(q, x, lr=0.01).raises)
    assert bool(diagnostics.curvature(q, x, lr=0.05).raises)  # ½α²gᵀHg > αgᵀg
    flat = diagnostics.curvature(problems.saddle(), np.array([0.0, 0.5]), lr=0.1)
    assert float(flat.gTHg) < 0 and flat.optimal_lr == np.inf


def test_curvature_with_a_given_direction_and_array_api_strict():
    r = problems.rosenbrock(3)
    x = np.array([[0.3, -0.2, 1.0], [1.5, 1.0, 0.2]])
    d = np.ones_like(x)
    c = diagnostics.curvature(r, x, d, lr=0.01)
    np.testing.assert_allclose(c.gTHg, np.einsum("ki,kij,kj->k", d, r.hessian(x), d))
    s = diagnostics.curvature(r, xps.asarray(x), lr=0.01)
    want = diagnostics.curvature(r, x, lr=0.01)
    assert isinstance(s.predicted_change, type(xps.ones(1)))
    np.testing.assert_allclose(np.asarray(s.predicted_change), want.predicted_change)


# ----------------------------------------------------------------------- Lanczos
@pytest.mark.parametrize("kappa", [10.0, 1e2, 1e4])
@pytest.mark.parametrize("dim", [10, 50])
@pytest.mark.parametrize("k", [1, 3])
def test_hessian_extremes_match_eigh_on_quadratics(dim, kappa, k):
    q = problems.quadratic(dim=dim, kappa=kappa, seed=dim)
    want = np.linalg.eigvalsh(q.hessian(q.x0))
    e = diagnostics.hessian_extremes(q, q.x0, k=k)
    np.testing.assert_allclose(e.largest, want[::-1][:k], rtol=1e-6)
    np.testing.assert_allclose(e.smallest, want[:k], rtol=1e-6)
    assert bool(e.converged) and e.hvps <= dim
    assert diagnostics.condition_number(q, q.x0) == pytest.approx(
        want[-1] / want[0], rel=1e-6
    )


def test_largest_eigenvalue_of_a_dim_1000_quadratic_in_at_most_60_hvps():
    q = Counting(problems.quadratic(dim=1000, kappa=1e4))
    e = diagnostics.hessian_extremes(q, q.problem.x0, which="largest")
    assert q.hvps <= 60 and e.hvps == q.hvps
    assert float(e.largest[0]) == pytest.approx(1e4, rel=1e-6)
    s = diagnostics.sharpness(Counting(q.problem), q.problem.x0, lr=1.9e-4)
    assert float(s.value) == pytest.approx(1e4, rel=1e-6)
    assert s.limit == pytest.approx(2 / 1.9e-4) and bool(s.stable)
    assert not bool(diagnostics.sharpness(q.problem, q.problem.x0, lr=2.1e-4).stable)


@pytest.mark.parametrize(
    "problem",
    [
        pytest.param(lambda: problems.rosenbrock(12), id="rosenbrock"),
        pytest.param(lambda: problems.deep_linear(depth=3, width=4), id="deep_linear"),
        pytest.param(lambda: problems.styblinski_tang(20), id="styblinski_tang"),
        pytest.param(
            lambda: problems.logistic_regression(), id="logistic", marks=needs_sklearn
        ),
    ],
)
def test_hessian_extremes_and_ritz_vectors_on_other_problems(problem):
    p = problem()
    x = np.random.default_rng(3).uniform(-0.5, 0.5, (2, p.dim))
    e = diagnostics.hessian_extremes(p, x, k=2, vectors=True)
    for row in range(2):
        want = np.linalg.eigvalsh(p.hessian(x[row]))
        np.testing.assert_allclose(e.largest[row], want[::-1][:2], rtol=1e-6)
        np.testing.assert_allclose(
            e.smallest[row], want[:2], rtol=1e-6, atol=1e-9 * want[-1]
        )
        for value, vector in zip(e.largest[row], e.largest_vectors[row]):
            residual = p.hvp(x[row], vector) - value * vector
            assert np.linalg.norm(residual) <= 1e-5 * abs(want).max()


def test_lanczos_runs_in_the_namespace_of_x():
    q = problems.quadratic(dim=12, kappa=50.0)
    e = diagnostics.hessian_extremes(q, xps.asarray(q.x0), k=2)
    np.testing.assert_allclose(e.largest, [50.0, q.eigenvalues[-2]], rtol=1e-8)


def test_negative_curvature_counts_the_saddle_index():
    s = problems.saddle(eigenvalues=[3.0, -1.0, 2.0, -0.5, -4.0])
    points = np.stack([s.saddle_point, s.x_star, np.array([0.0, 1.0, 0.0, 0.0, 0.0])])
    exact = diagnostics.negative_curvature(s, points)
    assert exact.exact
    np.testing.assert_array_equal(exact.index, [3, 0, 2])
    np.testing.assert_allclose(exact.min_eigenvalue, [-4.0, 1.0, -4.0])
    lanczos = diagnostics.negative_curvature(s, points, exact_dim=0)
    assert not lanczos.exact
    np.testing.assert_array_equal(lanczos.index, exact.index)
    big = problems.saddle(eigenvalues=np.r_[np.linspace(1, 5, 37), [-1.0, -2.0, -3.0]])
    assert (
        int(diagnostics.negative_curvature(big, big.saddle_point, exact_dim=0).index) == 3
    )


def test_condition_number_is_infinite_without_positive_curvature():
    q = problems.quadratic(eigenvalues=[0.0, 1.0, 4.0])
    assert diagnostics.condition_number(q, q.x0) == np.inf
    s = problems.saddle()
    assert diagnostics.condition_number(s, s.saddle_point) == np.inf


def test_bad_arguments_name_the_culprit():
    q = problems.quadratic(dim=4)
    with pytest.raises(ValueError, match="which='middle'"):
        diagnostics.hessian_extremes(q, q.x0, which="middle")
    with pytest.raises(ValueError, match="k >= 1"):
        diagnostics.hessian_extremes(q, q.x0, k=0)
