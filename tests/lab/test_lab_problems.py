"""Every problem: exact derivatives against finite differences, minima, Hessians,
batching (bit for bit), noisy gradients, the Numba kernels and array-api-strict."""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest
from _lab_cases import PARAMS, build, points

STRICT = type(xps.ones(1))
H = 1e-5  # central-difference step (float64)


def _fd_gradient(problem, x):
    """Central differences of ``value``: every coordinate for small dims, else three
    random directions (returns the directions used, or None for coordinates)."""
    k, d = x.shape
    if d <= 40:
        out = np.empty_like(x)
        for i in range(d):
            e = np.zeros(d)
            e[i] = H
            out[:, i] = (problem.value(x + e) - problem.value(x - e)) / (2 * H)
        return out, None
    dirs = np.random.default_rng(1).standard_normal((3, k, d))
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    fd = [(problem.value(x + H * v) - problem.value(x - H * v)) / (2 * H) for v in dirs]
    return np.stack(fd), dirs


def _close(got, want, rtol=1e-6):
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("rows", [1, 7])
@pytest.mark.parametrize("factory", PARAMS)
def test_gradient_matches_central_differences(factory, rows):
    problem = build(factory)
    x = points(problem, rows, seed=rows)
    f, g = problem.value_and_grad(x)
    assert f.shape == (rows,) and g.shape == x.shape
    np.testing.assert_array_equal(problem.grad(x), g)
    np.testing.assert_array_equal(problem.value(x), f)
    fd, dirs = _fd_gradient(problem, x)
    _close(g if dirs is None else np.sum(dirs * g, axis=-1), fd)


@pytest.mark.parametrize("rows", [1, 7])
@pytest.mark.parametrize("factory", PARAMS)
def test_hvp_matches_central_differences_of_the_gradient(factory, rows):
    problem = build(factory)
    x = points(problem, rows, seed=10 + rows)
    v = np.random.default_rng(rows).standard_normal(x.shape)
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    fd = (problem.grad(x + H * v) - problem.grad(x - H * v)) / (2 * H)
    _close(problem.hvp(x, v), fd)


@pytest.mark.parametrize("factory", PARAMS)
def test_minimum_value_and_zero_gradient(factory):
    problem = build(factory)
    if problem.x_star is None:
        assert problem.f_star is None
        pytest.skip(f"{problem!r} has no known minimizer")
    value = float(problem.value(problem.x_star))
    if problem.name == "styblinski_tang":  # f* = d·f₁(t*): a product, not the sum
        assert value == pytest.approx(problem.f_star, rel=1e-15)
        assert problem.f_star / problem.dim == pytest.approx(-39.16617, abs=5e-6)
    else:
        assert value == problem.f_star
    assert np.abs(problem.grad(problem.x_star)).max() <= 1e-10
    x = points(problem, 64, seed=5)  # no random point lies below the minimum
    assert problem.value(x).min() >= problem.f_star


@pytest.mark.parametrize("factory", PARAMS)
def test_hessian_is_symmetric_and_the_stack_of_hvps(factory):
    problem = build(factory)
    rows = 1 if problem.dim > 100 else 3
    x = points(problem, rows, seed=2)
    hessian = problem.hessian(x)
    assert hessian.shape == (rows, problem.dim, problem.dim)
    scale = float(np.abs(hessian).max())
    np.testing.assert_allclose(hessian, np.swapaxes(hessian, 1, 2), atol=1e-12 * scale)
    chosen = np.arange(problem.dim)  # every column, or 24 of them for large dims
    if problem.dim > 40:
        chosen = np.random.default_rng(0).choice(problem.dim, 24, replace=False)
    eye = np.eye(problem.dim)[chosen]
    columns = np.stack([problem.hvp(x, np.broadcast_to(e, x.shape)) for e in eye], axis=-1)
    np.testing.assert_allclose(
        hessian[..., chosen], columns, rtol=1e-12, atol=1e-12 * scale
    )
    np.testing.assert_array_equal(problem.hessian(x[0]), hessian[0])


@pytest.mark.parametrize("factory", PARAMS)
def test_batched_rows_equal_single_points_bitwise(factory):
    problem = build(factory)
    x = points(problem, 5, seed=3)
    v = np.random.default_rng(4).standard_normal(x.shape)
    f, g = problem.value_and_grad(x)
    hv = problem.hvp(x, v)
    noisy = problem.sample_grad(x, [np.random.default_rng(s) for s in range(5)])
    for k in range(5):
        for row in (x[k], x[k : k + 1]):  # one point, and a population of one
            one = row.ndim == 1
            fk, gk = problem.value_and_grad(row)
            assert fk.tobytes() == (f[k] if one else f[k : k + 1]).tobytes()
            assert gk.tobytes() == (g[k] if one else g[k : k + 1]).tobytes()
            vk = v[k] if one else v[k : k + 1]
            assert (
                problem.hvp(row, vk).tobytes()
                == (hv[k] if one else hv[k : k + 1]).tobytes()
            )
        alone = problem.sample_grad(x[k : k + 1], [np.random.default_rng(k)])
        assert alone.tobytes() == noisy[k : k + 1].tobytes()


@pytest.mark.parametrize("factory", PARAMS)
def test_sample_grad_is_unbiased(factory):
    problem = build(factory)
    x = points(problem, 2, seed=6)
    g = problem.grad(x)
    draws = 400
    rng = np.random.default_rng(0)
    samples = np.stack([problem.sample_grad(x, rng) for _ in range(draws)])
    stochastic = problem.noise > 0 or problem.name == "logistic_regression"
    if not stochastic:
        np.testing.assert_array_equal(samples, np.broadcast_to(g, samples.shape))
        return
    spread = samples.std(axis=0)
    assert spread.max() > 0
    error = samples.mean(axis=0) - g
    if problem.noise > 0:  # Gaussian: every coordinate within 5 standard errors
        np.testing.assert_allclose(spread, problem.noise, rtol=0.15)
        assert np.all(np.abs(error) <= 5 * spread / np.sqrt(draws))
    else:  # minibatches (heavy-tailed): E‖mean − g‖² = tr(Cov)/draws per row
        assert np.all(np.sum(error**2, axis=-1) <= 2 * np.sum(spread**2, axis=-1) / draws)


@pytest.mark.parametrize("factory", PARAMS)
def test_numba_kernel_matches_the_reference_and_is_used(factory, monkeypatch):
    pytest.importorskip("numba")
    problem = build(factory)
    if problem.numba_kernel is None:
        assert problem.value_and_grad(points(problem, 2), backend="numba")[0].shape == (2,)
        pytest.skip(f"{problem.name} has no Numba kernel (the reference runs)")
    x = points(problem, 9, seed=7)
    f_ref, g_ref = problem.value_and_grad(x)
    f, g = problem.value_and_grad(x, backend="numba")
    np.testing.assert_allclose(f, f_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(g, g_ref, rtol=1e-12, atol=1e-12 * np.abs(g_ref).max())
    for k in range(9):
        fk, gk = problem.value_and_grad(x[k : k + 1], backend="numba")
        assert (
            fk.tobytes() == f[k : k + 1].tobytes()
            and gk.tobytes() == g[k : k + 1].tobytes()
        )
    f32, g32 = problem.value_and_grad(x.astype(np.float32), backend="numba")
    assert f32.dtype == g32.dtype == np.float32

    def reference_called(*args):
        raise AssertionError("backend='numba' fell back to the Array API expressions")

    monkeypatch.setattr(problem, "_value_and_grad", reference_called)
    problem.value_and_grad(x, backend="numba")


@pytest.mark.parametrize("factory", PARAMS)
def test_array_api_strict_gives_the_same_numbers(factory):
    problem = build(factory)
    x = points(problem, 3, seed=8)
    v = np.random.default_rng(9).standard_normal(x.shape)
    sx, sv = xps.asarray(x), xps.asarray(v)
    f, g = problem.value_and_grad(sx)
    results = {
        "value": (problem.value(sx), problem.value(x)),
        "f": (f, problem.value(x)),
        "grad": (g, problem.grad(x)),
        "hvp": (problem.hvp(sx, sv), problem.hvp(x, v)),
    }
    if problem.dim <= 100:
        results["hessian"] = (problem.hessian(sx), problem.hessian(x))
    for name, (got, want) in results.items():
        assert isinstance(got, STRICT), name
        assert got.dtype == xps.float64, name
        np.testing.assert_allclose(
            np.asarray(got), want, rtol=1e-10, atol=1e-12, err_msg=name
        )
    noisy = problem.sample_grad(sx, [np.random.default_rng(s) for s in range(3)])
    assert isinstance(noisy, STRICT)
    want = problem.sample_grad(x, [np.random.default_rng(s) for s in range(3)])
    np.testing.assert_allclose(np.asarray(noisy), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("factory", PARAMS)
def test_float32_stays_float32(factory):
    problem = build(factory)
    x = points(problem, 2).astype(np.float32)
    f, g = problem.value_and_grad(x)
    assert f.dtype == g.dtype == problem.hvp(x, x).dtype == np.float32


@pytest.mark.parametrize("factory", PARAMS)
def test_spec_rebuilds_the_problem(factory):
    from optkit import problems

    problem = build(factory)
    again = problems.make(**problem.spec)
    assert again.spec == problem.spec
    x = points(problem, 2, seed=11)
    np.testing.assert_array_equal(again.value(x), problem.value(x))
    np.testing.assert_array_equal(again.x0, problem.x0)
    assert repr(again) == repr(problem)
