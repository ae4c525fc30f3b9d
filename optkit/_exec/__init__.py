"""Executors: turn one element-wise rule into a step function for a backend.

``kernel_for(backend, rule, array_hypers)`` returns a callable
``kernel(p, g, states, hypers)`` that updates ``p`` and every array of ``states`` in
place. ``hypers`` maps each of the rule's hyperparameter names to a number or an
array broadcastable to the parameter; an executor whose ``CONVERTS_SCALARS`` is
true needs them passed through its ``cast_hypers`` first (the Numba executor packs
scalars itself). Each executor module also has ``all_finite(g)``. Kernels are built
once and kept.
"""

from __future__ import annotations

import functools
from typing import Any

from optkit.rules import Rule


@functools.cache
def executor(backend: str):
    """The executor module of ``backend`` (``kernel_for``, ``cast_hypers``, ``all_finite``)."""
    return _module(backend)


def _module(backend: str):
    if backend in ("numpy", "array_api"):
        from optkit._exec import array_api as mod
    elif backend == "numba":
        from optkit._exec import numba as mod
    elif backend == "cupy":
        try:
            from optkit._exec import cupy as mod
        except ImportError as exc:
            raise NotImplementedError(f"the cupy executor is not available: {exc}") from exc
    else:
        raise ValueError(f"no executor for backend {backend!r}")
    return mod


def kernel_for(backend: str, rule: Rule, array_hypers: frozenset[str]):
    """The (cached) step function of ``rule`` on ``backend``."""
    return executor(backend).kernel_for(rule, array_hypers)


def cast_hypers(backend: str, hypers: dict[str, Any], param: Any) -> dict[str, Any]:
    """Hyperparameters in the form ``backend``'s kernels take, for ``param``'s dtype."""
    return executor(backend).cast_hypers(hypers, param)


def count_nonfinite(g: Any) -> int:
    """How many elements of ``g`` are NaN or infinite (reference path; for messages)."""
    import array_api_compat

    xp = array_api_compat.array_namespace(g)
    return int(xp.sum(xp.astype(~xp.isfinite(g), xp.int64)))
