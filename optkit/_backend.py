"""Backend names, discovery and selection.

Nothing here imports Numba or CuPy at import time: availability is probed lazily
(``importlib.util.find_spec``) and the modules are imported on first real use.

Selection order, most specific first: the ``backend=`` argument of an
object, the innermost :func:`use_backend` context, :func:`set_backend`, the
environment variable ``OPTKIT_BACKEND``, then ``"auto"``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import importlib.util
import os
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BACKENDS",
    "REGISTRY",
    "Backend",
    "BackendSpec",
    "backends",
    "get_backend",
    "resolve_backend",
    "set_backend",
    "use_backend",
]

#: Every name a user may pass as ``backend=``.
BACKENDS = ("auto", "numpy", "numba", "cupy", "array_api")

_ENV_VAR = "OPTKIT_BACKEND"
_global_choice: str | None = None
_context_choice: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "optkit_backend", default=None
)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name.lower() not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    return name.lower()


def set_backend(name: str | None) -> None:
    """Set the process-wide default backend (``None`` restores ``"auto"``).

    Examples
    --------
    >>> import optkit as ok
    >>> ok.set_backend("numpy"); ok.get_backend()
    'numpy'
    >>> ok.set_backend(None)      # back to OPTKIT_BACKEND, else "auto"
    """
    global _global_choice
    _global_choice = None if name is None else _check_name(name)


def get_backend() -> str:
    """The backend name in force here: context, then global, then env, then ``auto``.

    Examples
    --------
    >>> import optkit as ok
    >>> with ok.use_backend("numba"):
    ...     ok.get_backend()
    'numba'
    """
    chosen = _context_choice.get() or _global_choice or os.environ.get(_ENV_VAR)
    return _check_name(chosen) if chosen else "auto"


@contextlib.contextmanager
def use_backend(name: str):
    """Context manager that selects ``name`` for objects created inside it.

    Examples
    --------
    >>> import optkit as ok
    >>> with ok.use_backend("numpy"):
    ...     ok.get_backend()
    'numpy'
    """
    token = _context_choice.set(_check_name(name))
    try:
        yield
    finally:
        _context_choice.reset(token)


# --------------------------------------------------------------------------- discovery
def _probe(module: str) -> tuple[bool, str | None, str]:
    """(importable, version, reason-if-not) for an optional module, importing it."""
    if importlib.util.find_spec(module) is None:
        return False, None, f"{module} is not installed"
    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # a broken install must not break optkit
        return False, None, f"import {module} failed: {type(exc).__name__}: {exc}"
    return True, getattr(mod, "__version__", None), ""


def _cupy_devices(cupy: Any) -> tuple[list[str], str]:
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return [], f"no CUDA device usable: {type(exc).__name__}: {exc}"
    names = []
    for i in range(count):
        props = cupy.cuda.runtime.getDeviceProperties(i)
        name = props["name"]
        names.append(name.decode() if isinstance(name, bytes) else str(name))
    return names, "" if names else "CuPy found no CUDA device"


def backends() -> dict[str, dict[str, Any]]:
    """Availability of every backend: ``{name: {available, version, reason, ...}}``.

    ``numba`` adds ``threads`` and ``threading_layer``; ``cupy`` adds ``devices``.
    This imports the optional libraries that are installed.

    Examples
    --------
    >>> import optkit as ok
    >>> ok.backends()["numpy"]["available"]
    True
    """
    import numpy as np

    info: dict[str, dict[str, Any]] = {
        "numpy": {"available": True, "version": np.__version__, "reason": ""},
    }
    ok, version, reason = _probe("numba")
    entry: dict[str, Any] = {"available": ok, "version": version, "reason": reason}
    if ok:
        import numba

        from optkit._exec.numba_threads import thread_count, wait_policy

        entry["threads"] = thread_count()
        entry["threading_layer"] = numba.threading_layer()
        entry["omp_wait_policy"] = wait_policy()
    info["numba"] = entry
    ok, version, reason = _probe("cupy")
    entry = {"available": False, "version": version, "reason": reason, "devices": []}
    if ok:
        import cupy

        entry["devices"], reason = _cupy_devices(cupy)
        entry["available"] = not reason
        entry["reason"] = reason
    info["cupy"] = entry
    ok, version, reason = _probe("array_api_compat")
    info["array_api"] = {"available": ok, "version": version, "reason": reason}
    return info


# --------------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class BackendSpec:
    """What a backend is: its array library, its executor, what it can do.

    ``library`` is the array library it takes (``None``: any Array API library);
    ``executor`` the module implementing ``update``/``elementwise``/``reduce``;
    ``extra`` the pip extra that installs it; ``fused`` whether its kernels are
    generated fused loops (else whole-array evaluation); ``float16`` whether update
    rules run on float16 parameters.
    """

    name: str
    library: str | None
    executor: str
    extra: str | None
    fused: bool
    float16: bool


#: The one table of backends (``auto`` resolves to one of these).
REGISTRY: dict[str, BackendSpec] = {
    spec.name: spec
    for spec in (
        BackendSpec("numpy", "numpy", "optkit._exec.array_api", None, False, True),
        BackendSpec("numba", "numpy", "optkit._exec.numba", None, True, False),
        BackendSpec("cupy", "cupy", "optkit._exec.cupy", "cuda12", True, True),
        BackendSpec("array_api", None, "optkit._exec.array_api", None, False, True),
    )
}


@functools.cache
def executor(name: str) -> Any:
    """The executor module of backend ``name`` (imported on first use)."""
    try:
        return importlib.import_module(REGISTRY[name].executor)
    except ImportError as exc:
        raise NotImplementedError(f"the {name} executor is not available: {exc}") from exc


# --------------------------------------------------------------------------- resolution
@dataclass(frozen=True)
class Backend:
    """A resolved backend: its name and the Array API namespace of its arrays."""

    name: str
    xp: Any

    @property
    def spec(self) -> BackendSpec:
        return REGISTRY[self.name]

    @property
    def executor(self) -> Any:
        """The executor module (``update``, ``elementwise``, ``reduce``)."""
        return executor(self.name)


def _numba_available() -> bool:
    return importlib.util.find_spec("numba") is not None


def resolve_backend(requested: str | None, array: Any) -> Backend:
    """Turn a requested name (or the ambient choice) into a :class:`Backend` for ``array``.

    Raises ``TypeError`` naming both the backend and the array library when they do
    not fit (NumPy arrays with ``"cupy"``, CuPy arrays with ``"numba"``, ...).
    """
    import array_api_compat

    from optkit._host import library_of

    name = _check_name(requested) if requested is not None else get_backend()
    library = library_of(array)
    if not array_api_compat.is_array_api_obj(array):
        raise TypeError(f"expected an array, got {type(array).__name__}")
    if name == "auto":
        if library == "numpy":
            name = "numba" if _numba_available() else "numpy"
        elif library == "cupy":
            name = "cupy"
        else:
            name = "array_api"
    wants = REGISTRY[name].library
    if wants is not None and library != wants:
        raise TypeError(
            f"backend {name!r} needs {wants} arrays, but got a {library} array "
            f"({type(array).__module__}.{type(array).__name__}); move the data or "
            f"choose backend='auto'"
        )
    if name == "numba" and not _numba_available():
        raise ImportError("backend 'numba' was requested but numba is not installed")
    from optkit._host import namespace

    return Backend(name=name, xp=namespace(array))
