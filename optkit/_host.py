"""Moving arrays between a backend's library and plain NumPy (for state dicts)."""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

__all__ = ["from_numpy", "library_of", "to_numpy"]


def library_of(x: Any) -> str:
    """The top-level module of ``x``'s type (``"numpy"``, ``"cupy"``, ...)."""
    return type(x).__module__.split(".")[0]


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy of an array of any library (CuPy via ``.get()``)."""
    if isinstance(x, np.ndarray):
        return x.copy()
    if library_of(x) == "cupy":
        return x.get()
    if isinstance(x, np.generic):
        return np.asarray(x)
    try:  # CPU arrays of any DLPack library (torch, array_api_strict, ...)
        return np.array(np.from_dlpack(x), copy=True)
    except (TypeError, RuntimeError, BufferError, AttributeError):
        return np.array(x, copy=True)


def from_numpy(value: np.ndarray, like: Any) -> Any:
    """``value`` as an array of ``like``'s library and device."""
    if isinstance(like, np.ndarray):
        return np.asarray(value)
    if library_of(like) == "cupy":
        import cupy

        return cupy.asarray(value)
    xp = array_api_compat.array_namespace(like)
    return xp.asarray(value, device=array_api_compat.device(like))
