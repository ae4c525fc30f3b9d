"""The backends every write-once test runs on, as one fixture.

``numpy`` and ``numba`` (NumPy arrays), ``array_api_strict`` (the reference executor
on a standard-only library), ``cuda_twin`` (the CuPy executor and its generated
CUDA bodies, with CuPy replaced by a host stand-in whose kernels g++ compiles), and
``cupy`` (a real GPU; skipped without one). A :class:`TestBackend` moves NumPy data
in and out and names the optkit backend to request.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

import optkit as ok
from optkit import _backend

__all__ = [
    "BACKEND_NAMES",
    "HAS_GPU",
    "HAS_TORCH",
    "TestBackend",
    "backend_for",
    "tolerance",
]

BACKEND_NAMES = ["numpy", "numba", "array_api_strict", "cuda_twin", "cupy"]
HAS_TORCH = importlib.util.find_spec("torch") is not None


def _gpu() -> bool:
    if importlib.util.find_spec("cupy") is None:
        return False
    return bool(ok.backends()["cupy"]["available"])


HAS_GPU = _gpu()


@dataclass
class TestBackend:
    """One backend of the fixture: how to make its arrays and read them back."""

    __test__ = False  # not a pytest test class

    name: str
    optkit: str  # the name to pass as backend=
    asarray: Callable[[np.ndarray], Any]
    to_numpy: Callable[[Any], np.ndarray]
    float16: bool = True  # update rules on float16 parameters
    exact: bool = True  # same program as the reference: bitwise equal results expected

    def __repr__(self) -> str:
        return self.name


def _strict() -> TestBackend:
    import array_api_strict as xps

    return TestBackend(
        "array_api_strict", "array_api", lambda a: xps.asarray(np.array(a, copy=True)),
        lambda a: np.asarray(a.__array__() if hasattr(a, "__array__") else a).copy(),
        float16=False,
    )  # fmt: skip


@contextlib.contextmanager
def _twin() -> Iterator[TestBackend]:
    """Install the host stand-in of CuPy for the duration of a test."""
    import pytest

    from _support.fake_cupy import fake_cupy_module
    from _support.native import host_compiler

    if host_compiler()[0] is None:
        pytest.skip(host_compiler()[1])
    saved = {k: sys.modules.get(k) for k in ("cupy", "optkit._exec.cupy")}
    fake = fake_cupy_module()
    sys.modules["cupy"] = fake
    sys.modules.pop("optkit._exec.cupy", None)
    _backend.executor.cache_clear()
    try:
        yield TestBackend(
            "cuda_twin", "cupy", lambda a: fake.array(a), fake.asnumpy, float16=False
        )
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
        _backend.executor.cache_clear()


def _cupy() -> TestBackend:
    import cupy

    return TestBackend("cupy", "cupy", cupy.asarray, cupy.asnumpy)


@contextlib.contextmanager
def backend_for(name: str) -> Iterator[TestBackend]:
    """The :class:`TestBackend` called ``name`` (a context: the twin patches CuPy)."""
    if name == "cuda_twin":
        with _twin() as twin:
            yield twin
        return
    if name == "cupy":
        yield _cupy()
        return
    if name == "array_api_strict":
        yield _strict()
        return
    copy = lambda a: np.array(a, copy=True)  # noqa: E731
    yield TestBackend(name, name, copy, copy, float16=name == "numpy")


def tolerance(dtype) -> dict[str, float]:
    """A loose rtol/atol scaled to the dtype (for sums whose order differs)."""
    eps = float(np.finfo(dtype).eps)
    return {"rtol": 64 * eps, "atol": 64 * eps}
