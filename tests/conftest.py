"""Shared fixtures: the backend fixture, GPU and torch skipping.

``backend`` runs a test on every backend that can run here (numpy, numba,
array_api_strict, the CUDA twin, and cupy with a GPU); ``cpu_backend`` on the two
that take NumPy arrays (for tests that need NumPy-only features such as views).
"""

from __future__ import annotations

import pytest
from _support.backends import BACKEND_NAMES, HAS_GPU, backend_for


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device and CuPy")
    for item in items:
        if "gpu" in item.keywords and not HAS_GPU:
            item.add_marker(skip_gpu)


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.gpu) if name == "cupy" else name
        for name in BACKEND_NAMES
    ]
)
def backend(request):
    """Each backend in turn (a :class:`_support.backends.TestBackend`)."""
    with backend_for(request.param) as tb:
        yield tb


@pytest.fixture(params=["numpy", "numba"])
def cpu_backend(request) -> str:
    """The two backends that take NumPy arrays (their optkit name)."""
    return request.param
