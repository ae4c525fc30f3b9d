"""Moving arrays between a backend's library and plain NumPy (for state dicts)."""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

__all__ = [
    "device",
    "from_numpy",
    "library_of",
    "namespace",
    "to_numpy",
    "writable",
    "zeros_like",
]


def namespace(x: Any) -> Any:
    """The Array API namespace of ``x``: NumPy itself for NumPy arrays (NumPy 2 is
    standard-compatible, and skipping ``array_api_compat.numpy`` saves ~90 ms of
    import on the Numba path), ``array_api_compat`` otherwise."""
    if isinstance(x, np.ndarray):
        return np
    return array_api_compat.array_namespace(x)


def device(x: Any) -> Any:
    """The device of ``x`` (``"cpu"`` for NumPy arrays)."""
    return "cpu" if isinstance(x, np.ndarray) else array_api_compat.device(x)


def zeros_like(x: Any) -> Any:
    """A new C-contiguous array of zeros with ``x``'s shape, dtype, library and device."""
    if isinstance(x, np.ndarray):
        return np.zeros(x.shape, dtype=x.dtype)
    return namespace(x).zeros(x.shape, dtype=x.dtype, device=device(x))


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


def writable(x: Any) -> str:
    """'' when ``x`` can be written in place, else why not (read-only NumPy arrays,
    torch tensors that require grad)."""
    if type(x) is np.ndarray:  # the hot path of every optimizer step
        return (
            "" if x.flags.writeable else "the array is read-only (flags.writeable is False)"
        )
    flags = getattr(x, "flags", None)
    if flags is not None and getattr(flags, "writeable", True) is False:
        return "the array is read-only (flags.writeable is False)"
    if getattr(x, "requires_grad", False) and library_of(x) == "torch":
        return (
            "it is a torch tensor that requires grad (use optkit.torch's optimizers, "
            "or pass p.detach())"
        )
    return ""
