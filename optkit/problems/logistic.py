"""L2-regularized logistic regression on scikit-learn's bundled data sets."""

from __future__ import annotations

import functools
import numbers
from typing import Any

import numpy as np

from optkit.problems._base import Problem, generators, real

__all__ = ["LogisticRegression", "logistic_regression"]

_DATASETS = ("breast_cancer", "digits")


@functools.lru_cache(maxsize=4)
def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """``(X, y, classes)``: standardized features with a last column of ones, labels.

    Needs scikit-learn (its bundled copies: nothing is downloaded).
    """
    if name not in _DATASETS:
        raise ValueError(f"unknown dataset={name!r}: expected one of {_DATASETS}")
    try:
        from sklearn import datasets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "logistic_regression reads scikit-learn's bundled data sets; install "
            "them with: pip install 'optkit[lab]'"
        ) from exc
    bunch = getattr(datasets, f"load_{name}")()
    x = np.asarray(bunch.data, dtype=np.float64)
    std = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    x = np.hstack([x, np.ones((x.shape[0], 1))])
    y = np.asarray(bunch.target, dtype=np.int64)
    for a in (x, y):
        a.flags.writeable = False
    return x, y, int(y.max()) + 1


def _sigmoid(xp, z):
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(xp, z):
    return xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))


class LogisticRegression(Problem):
    """Logistic (binary) or softmax (multi-class) regression; see :func:`logistic_regression`."""

    name = "logistic_regression"

    def __init__(self, dataset="breast_cancer", l2=1e-3, batch_size=32):
        self.features, self.labels, self.classes = load_dataset(dataset)
        n, d = self.features.shape
        self.l2 = real("l2", l2, minimum=0.0)
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
            raise TypeError(f"batch_size={batch_size!r}: expected an integer")
        if not 1 <= batch_size <= n:
            raise ValueError(f"batch_size={batch_size!r}: must be in [1, {n}]")
        self.batch_size = int(batch_size)
        self.outputs = 1 if self.classes == 2 else self.classes
        onehot = np.eye(self.classes)[self.labels]
        self._targets = self.labels.astype(np.float64) if self.outputs == 1 else onehot
        self._minimum = None
        super().__init__(
            self.outputs * d,
            np.zeros(self.outputs * d),
            bounds=(-1.0, 1.0),
            params={"dataset": dataset, "l2": self.l2, "batch_size": self.batch_size},
        )

    # ----------------------------------------------------------------- the minimum
    @property
    def x_star(self) -> np.ndarray | None:
        """The minimizer (Newton's method to float64 precision, computed on first use);
        None when ``l2 == 0`` (the minimum may lie at infinity)."""
        if self.l2 == 0:
            return None
        if self._minimum is None:
            self._minimum = _newton(self, np.zeros(self.dim))
            self._minimum.flags.writeable = False
        return self._minimum

    @property
    def f_star(self) -> float | None:
        """``value(x_star)``, or None when ``l2 == 0``."""
        x = self.x_star
        return None if x is None else float(self.value(x))

    # ----------------------------------------------------------------- the data
    def _data(self, xp, like):
        x = self.constant(xp, "features", self.features, like)
        xt = self.constant(xp, "features_t", np.ascontiguousarray(self.features.T), like)
        return x, xt, self.constant(xp, "targets", self._targets, like)

    def _weights(self, xp, w):
        d = self.features.shape[1]
        return w if self.outputs == 1 else xp.reshape(w, (w.shape[0], self.outputs, d))

    def _flat(self, xp, g):
        return g if self.outputs == 1 else xp.reshape(g, (g.shape[0], self.dim))

    def _logits(self, xp, x, xt, w):
        """``(K, n)`` (binary) or ``(K, n, C)``: one matrix product per row."""
        if self.outputs == 1:
            return xp.matmul(w[:, None, :], xt)[:, 0, :]
        return xp.matmul(x, xp.permute_dims(w, (0, 2, 1)))

    def _loss_and_residual(self, xp, z, y):
        """Mean loss per row and the residual ``∂loss_i/∂z_i`` (probabilities − targets)."""
        if self.outputs == 1:
            return xp.mean(_softplus(xp, z) - y * z, axis=-1), _sigmoid(xp, z) - y
        top = xp.max(z, axis=-1, keepdims=True)
        lse = top + xp.log(xp.sum(xp.exp(z - top), axis=-1, keepdims=True))
        loss = xp.mean(lse[..., 0] - xp.sum(z * y, axis=-1), axis=-1)
        return loss, xp.exp(z - lse) - y

    def _back(self, xp, residual, x, count):
        """``residualᵀ X / count`` per row (same layout as the weights)."""
        if self.outputs == 1:
            return xp.matmul(residual[:, None, :], x)[:, 0, :] / count
        return xp.matmul(xp.permute_dims(residual, (0, 2, 1)), x) / count

    def _penalty(self, xp, w):
        return (0.5 * self.l2) * xp.sum(w * w, axis=-1)

    # ----------------------------------------------------------------- derivatives
    def _value(self, xp, w):
        x, xt, y = self._data(xp, w)
        loss, _ = self._loss_and_residual(
            xp, self._logits(xp, x, xt, self._weights(xp, w)), y
        )
        return loss + self._penalty(xp, w)

    def _value_and_grad(self, xp, w):
        x, xt, y = self._data(xp, w)
        z = self._logits(xp, x, xt, self._weights(xp, w))
        loss, residual = self._loss_and_residual(xp, z, y)
        grad = self._flat(xp, self._back(xp, residual, x, x.shape[0]))
        return loss + self._penalty(xp, w), grad + self.l2 * w

    def _hvp(self, xp, w, v):
        x, xt, y = self._data(xp, w)
        z = self._logits(xp, x, xt, self._weights(xp, w))
        dz = self._logits(xp, x, xt, self._weights(xp, v))
        _, residual = self._loss_and_residual(xp, z, y)
        if self.outputs == 1:
            p = residual + y
            dr = p * (1 - p) * dz
        else:
            p = residual + y
            dr = p * (dz - xp.sum(p * dz, axis=-1, keepdims=True))
        return self._flat(xp, self._back(xp, dr, x, x.shape[0])) + self.l2 * v

    def _hessian(self, xp, w):
        x, xt, y = self._data(xp, w)
        n, d = x.shape
        p = self._loss_and_residual(xp, self._logits(xp, x, xt, self._weights(xp, w)), y)[1]
        p = p + y
        eye = xp.eye(self.dim, dtype=w.dtype, device=_dev(w))
        if self.outputs == 1:
            return (
                xp.matmul(xt[None, ...] * (p * (1 - p))[:, None, :], x) / n + self.l2 * eye
            )
        k, c = w.shape[0], self.outputs
        # Σ_i (diag(p_i) - p_i p_iᵀ) ⊗ x_i x_iᵀ / n: a block diagonal minus AᵀA.
        pt = xp.permute_dims(p, (0, 2, 1))  # (K, C, n)
        blocks = xp.matmul(xt[None, None, ...] * pt[..., None, :], x)  # (K, C, d, d)
        eye_c = xp.eye(c, dtype=w.dtype, device=_dev(w))
        diag = eye_c[None, :, None, :, None] * blocks[:, :, :, None, :]
        a = xp.reshape(p[..., None] * x[None, :, None, :], (k, n, c * d))
        outer = xp.matmul(xp.permute_dims(a, (0, 2, 1)), a)
        return (xp.reshape(diag, (k, self.dim, self.dim)) - outer) / n + self.l2 * eye

    def sample_grad(self, w: Any, rng: Any, *, backend: str | None = None) -> Any:
        """The gradient on a minibatch of ``batch_size`` examples drawn uniformly with
        replacement (unbiased), plus the exact L2 term.

        ``rng``: one generator (it draws every row's indices), or a sequence of K
        generators (row k's indices from generator k alone).
        """
        xp, points, single = self._points(w)
        n = self.features.shape[0]
        if isinstance(rng, np.random.Generator):
            index = rng.integers(0, n, (points.shape[0], self.batch_size))
        else:
            rows = generators(rng, points.shape[0])
            index = np.stack([r.integers(0, n, self.batch_size) for r in rows])
        x, _, y = self._data(xp, points)
        flat = xp.asarray(index.reshape(-1), dtype=xp.int64, device=_dev(points))
        xb = xp.reshape(xp.take(x, flat, axis=0), (*index.shape, x.shape[1]))
        yb = xp.reshape(xp.take(y, flat, axis=0), (*index.shape, *y.shape[1:]))
        weights = self._weights(xp, points)
        if self.outputs == 1:
            z = xp.sum(xb * weights[:, None, :], axis=-1)
        else:
            z = xp.matmul(xb, xp.permute_dims(weights, (0, 2, 1)))
        residual = self._loss_and_residual(xp, z, yb)[1]
        g = self._flat(xp, self._back(xp, residual, xb, self.batch_size))
        g = g + self.l2 * points
        return g[0] if single else g


def _dev(x):
    import array_api_compat

    return array_api_compat.device(x)


def _newton(problem: LogisticRegression, x: np.ndarray) -> np.ndarray:
    """Damped Newton's method (dense Hessian, backtracking) to float64 precision."""
    f, g = problem.value_and_grad(x)
    for _ in range(100):
        gnorm = float(np.max(np.abs(g)))
        if gnorm == 0.0:
            break
        step = np.linalg.solve(problem.hessian(x), g)
        t = 1.0
        while True:
            trial = x - t * step
            f_trial, g_trial = problem.value_and_grad(trial)
            decrease = f_trial <= f - 1e-4 * t * float(g @ step)
            if decrease or float(np.max(np.abs(g_trial))) <= 0.5 * gnorm or t < 1e-8:
                break
            t *= 0.5
        if float(np.max(np.abs(g_trial))) >= gnorm and f_trial >= f:
            break  # rounding: no further progress
        x, f, g = trial, f_trial, g_trial
    return x


def logistic_regression(
    dataset: str = "breast_cancer", l2: float = 1e-3, batch_size: int = 32
) -> LogisticRegression:
    r"""Logistic regression on a real data set: smooth, convex, minibatch gradients.

    .. math::
        f(w) = \frac1n \sum_{i=1}^n \ell(w; x_i, y_i) + \frac{\lambda}{2}\lVert w\rVert^2

    with :math:`\ell = \log(1 + e^{z}) - yz`, :math:`z = w^\top x` for two classes,
    and the softmax cross-entropy :math:`\ell = \log\sum_c e^{z_c} - z_{y}`,
    :math:`z = Wx`, for more. Features are standardized (zero mean, unit variance;
    constant columns left at 0) and a constant 1 is appended (the bias, regularized
    like the weights).

    Parameters
    ----------
    dataset : {"breast_cancer", "digits"}, default "breast_cancer"
        scikit-learn's bundled copies (no download): breast cancer, 569 examples x
        30 features, 2 classes (``dim = 31``); digits, 1797 x 64, 10 classes
        (``dim = 650``, the weights of class c at ``[65c, 65c + 65)``).
    l2 : float, default 1e-3
        λ ≥ 0. With λ > 0 the problem is strongly convex; with λ = 0 it is convex
        but the minimum may lie at infinity (``x_star`` and ``f_star`` are None).
    batch_size : int, default 32
        Examples per :meth:`~LogisticRegression.sample_grad` minibatch.

    Returns
    -------
    LogisticRegression
        ``x0 = 0``; ``x_star``/``f_star`` by Newton's method on first use (λ > 0).

    Notes
    -----
    Gradient :math:`X^\top(p - Y)/n + \lambda w` (p: predicted probabilities, Y:
    targets), Hessian :math:`X^\top \mathrm{diag}(p(1-p)) X/n + \lambda I` (two
    classes) or :math:`\frac1n\sum_i (\mathrm{diag}(p_i) - p_ip_i^\top)\otimes
    x_ix_i^\top + \lambda I`. Needs scikit-learn: ``pip install 'optkit[lab]'``.

    References
    ----------
    Wolberg, Street & Mangasarian (1995), breast cancer Wisconsin (diagnostic);
    Alpaydin & Kaynak (1998), optical recognition of handwritten digits (UCI).

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.problems import logistic_regression
    >>> p = logistic_regression("breast_cancer", l2=1e-2)
    >>> p.dim, round(float(p.value(p.x0)), 6) == round(float(np.log(2)), 6)
    (31, True)
    >>> bool(np.abs(p.grad(p.x_star)).max() < 1e-12)
    True
    """
    return LogisticRegression(dataset, l2, batch_size)
