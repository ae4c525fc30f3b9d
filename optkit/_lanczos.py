"""Lanczos iteration with full reorthogonalisation, batched over points.

The engine of :func:`optkit.diagnostics.hessian_extremes`: K independent Lanczos
processes advance together, one batched ``hvp(x, q)`` per iteration, in the Array
API namespace of ``x``; the small tridiagonal eigenproblems are solved with NumPy.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

__all__ = ["host", "lanczos", "ritz_extremes"]


def host(a: Any) -> np.ndarray:
    """``a`` as a NumPy array (CuPy via ``.get()``, others via DLPack)."""
    if isinstance(a, np.ndarray):
        return a
    if type(a).__module__.split(".")[0] == "cupy":
        return a.get()
    return np.asarray(np.from_dlpack(a))


def _row_norms(xp, a):
    return xp.sqrt(xp.sum(a * a, axis=-1))


def _ritz(alpha, beta, m):
    """Ritz values (ascending) and vectors of the m x m Lanczos tridiagonal."""
    t = np.diag(alpha[:m]) + np.diag(beta[: m - 1], 1) + np.diag(beta[: m - 1], -1)
    return np.linalg.eigh(t)


def _converged(alpha, beta, m, k, which, tol) -> bool:
    """Whether the wanted Ritz values meet ``tol`` (residual bound |β_m s_{m,i}|)."""
    theta, s = _ritz(alpha, beta, m)
    residual = np.abs(beta[m - 1] * s[m - 1, :])
    low = np.arange(min(k, m)) if which != "largest" else np.arange(0)
    high = np.arange(max(m - k, 0), m) if which != "smallest" else np.arange(0)
    wanted = np.r_[low, high].astype(int)
    floor = 1e-14 * np.abs(theta).max()
    return bool(np.all(residual[wanted] <= np.maximum(tol * np.abs(theta[wanted]), floor)))


def _reorthogonalise(xp, basis, w, j):
    """``w`` minus its components along the first ``j + 1`` basis vectors, twice."""
    for _ in range(2):
        q = basis[:, : j + 1, :]
        coeffs = xp.matmul(q, w[:, :, None])
        w = w - xp.matmul(xp.permute_dims(q, (0, 2, 1)), coeffs)[..., 0]
    return w


def lanczos(hvp, points, m_max, k, which, tol, seed):
    """Run the iteration; ``(alpha, beta, length, done, basis, hvps)``.

    ``length[r]`` is the number of valid iterations of row r (shorter after a
    breakdown or convergence); ``done[r]`` whether it converged (or broke down: the
    Krylov space is invariant and its Ritz values are exact).
    """
    xp = np if isinstance(points, np.ndarray) else array_api_compat.array_namespace(points)
    rows, dim = points.shape
    dev = array_api_compat.device(points)
    start = np.random.default_rng(seed).standard_normal((rows, dim))
    q = xp.asarray(start, dtype=points.dtype, device=dev)
    q = q / _row_norms(xp, q)[:, None]
    basis = xp.zeros((rows, m_max, dim), dtype=points.dtype, device=dev)
    alpha, beta = np.zeros((rows, m_max)), np.zeros((rows, m_max))
    length = np.full(rows, m_max)  # iterations per row (shorter after a breakdown)
    done = np.zeros(rows, dtype=bool)
    used = 0
    for j in range(m_max):
        basis[:, j, :] = q
        w = hvp(points, q)
        used += 1
        alpha[:, j] = host(xp.sum(w * q, axis=-1))
        w = _reorthogonalise(xp, basis, w, j)
        norms = host(_row_norms(xp, w))
        beta[:, j] = norms
        scale = np.abs(alpha[:, : j + 1]).max(axis=1) + norms
        breakdown = (norms <= 1e-12 * scale) & ~done
        length[breakdown] = j + 1
        done |= breakdown
        if j + 1 >= min(2 * k, dim) and (j < 20 or (j + 1) % max(1, j // 10) == 0):
            for r in np.flatnonzero(~done):
                if _converged(alpha[r], beta[r], j + 1, k, which, tol):
                    done[r], length[r] = True, j + 1
        if done.all():
            break
        safe = np.where(norms > 1e-300, norms, 1.0)  # rows after a breakdown: any vector
        safe = xp.asarray(safe, dtype=points.dtype, device=dev)
        q = w / safe[:, None]
    return alpha, beta, length, done, basis, used


def ritz_extremes(alpha, beta, length, basis, k, vectors):
    """The k largest (descending) and smallest (ascending) Ritz values per row, and
    their Ritz vectors when ``vectors``; NaN where fewer than k exist."""
    rows = alpha.shape[0]
    large, small = np.zeros((rows, k)), np.zeros((rows, k))
    dim = basis.shape[-1]
    large_v = np.zeros((rows, k, dim)) if vectors else None
    small_v = np.zeros((rows, k, dim)) if vectors else None
    for r in range(rows):
        m = int(length[r])
        theta, s = _ritz(alpha[r], beta[r], m)
        count = min(k, m)
        large[r, :count], small[r, :count] = theta[::-1][:count], theta[:count]
        large[r, count:], small[r, count:] = np.nan, np.nan
        if vectors:
            q = host(basis[r, :m, :])
            large_v[r, :count] = (q.T @ s[:, ::-1][:, :count]).T
            small_v[r, :count] = (q.T @ s[:, :count]).T
    return large, small, large_v, small_v
