"""Shared fixtures: the backends to iterate, GPU skipping, dtype tolerances."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import optkit as ok


def _cupy_ready() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    return bool(ok.backends()["cupy"]["available"])


HAS_GPU = _cupy_ready()
HAS_TORCH = importlib.util.find_spec("torch") is not None

#: Backends that run on NumPy arrays here; "array_api" runs the reference executor
#: on array_api_strict arrays (see tests/test_array_api_strict.py).
CPU_BACKENDS = ["numpy", "numba"]


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device and CuPy")
    for item in items:
        if "gpu" in item.keywords and not HAS_GPU:
            item.add_marker(skip_gpu)


@pytest.fixture(params=CPU_BACKENDS)
def backend(request) -> str:
    """Each CPU backend in turn."""
    return request.param


def tolerance(dtype) -> dict[str, float]:
    """rtol/atol scaled to the dtype's precision (for comparing backends)."""
    eps = float(np.finfo(dtype).eps)
    return {"rtol": 2000 * eps, "atol": 2000 * eps}
