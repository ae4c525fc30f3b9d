"""Shared pieces of the nn tests: the recorded goldens, the model they describe,
and a central finite-difference gradient."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import optkit as ok
from optkit.nn import BatchNorm, Linear, ReLU, Sequential, Tanh

GOLDENS = Path(__file__).resolve().parents[1] / "data" / "nn_goldens.npz"


def goldens() -> dict[str, np.ndarray]:
    """Every array of ``tests/data/nn_goldens.npz`` (see tools/make_nn_goldens.py)."""
    with np.load(GOLDENS, allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files}


def section(data: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries ``prefix/<key>`` as ``{key: array}``."""
    cut = len(prefix) + 1
    return {k[cut:]: v for k, v in data.items() if k.startswith(prefix + "/")}


def golden_model(backend: str = "numba", dtype: str = "float64") -> Sequential:
    """The recorded architecture (weights are loaded separately)."""
    kw = dict(dtype=dtype, backend=backend)
    return Sequential(
        Linear(64, 32, **kw), BatchNorm(32, **kw), Tanh(backend=backend),
        Linear(32, 32, **kw), BatchNorm(32, **kw), ReLU(backend=backend),
        Linear(32, 10, **kw),
    )  # fmt: skip


def numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to ``x`` (in place)."""
    grad = np.zeros_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        keep = flat[i]
        flat[i] = keep + eps
        up = f()
        flat[i] = keep - eps
        down = f()
        flat[i] = keep
        out[i] = (up - down) / (2 * eps)
    return grad


def weighted_sum(weights: np.ndarray):
    """A loss ``sum(weights * output)`` in the loss protocol (fixed upstream gradient)."""

    def loss(output, target, *, grad=False):
        value = float(np.sum(weights * output))
        return (value, weights.astype(output.dtype)) if grad else value

    return loss


def assert_close_to_scale(ours, theirs, rtol: float, label: str = "") -> None:
    """Each array within ``rtol`` of ``theirs`` elementwise, with an absolute floor of
    ``rtol * max|theirs|`` (entries far below the array's scale are roundoff)."""
    theirs = np.asarray(theirs)
    np.testing.assert_allclose(
        ours, theirs, rtol=rtol, atol=rtol * float(np.max(np.abs(theirs))), err_msg=label
    )


__all__ = [
    "GOLDENS",
    "assert_close_to_scale",
    "golden_model",
    "goldens",
    "numeric_grad",
    "ok",
    "section",
    "weighted_sum",
]
