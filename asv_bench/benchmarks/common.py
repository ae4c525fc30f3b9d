"""Shared pieces of the asv suite: backend choices, skipping, settings.

Every benchmark class is parameterized by backend with the same names everywhere
(``numpy``, ``numba``, ``cupy``, and torch peers ``torch-fused`` /
``torch-foreach``); a combination that cannot run on this machine raises
``NotImplementedError`` in ``setup`` and asv records it as skipped, so the
parameter lists stay identical on every machine and dashboards line up. JITs are
warmed in ``setup``; GPU work is synchronized inside the timed callables (see
:func:`optkit.benchmark.make_step`).
"""

from __future__ import annotations

import importlib.util

BACKENDS = ["numpy", "numba", "cupy", "torch-fused", "torch-foreach"]
SIZES = [2**12, 2**20, 2**24]
DTYPES = ["float32", "float64"]


def require(module: str) -> None:
    """Skip (``NotImplementedError``) when ``module`` is not importable."""
    if importlib.util.find_spec(module) is None:
        raise NotImplementedError(f"{module} is not installed")


def require_gpu() -> None:
    """Skip unless CuPy sees a CUDA device."""
    require("cupy")
    from optkit._backend import backends

    info = backends()["cupy"]
    if not info["available"]:
        raise NotImplementedError(info["reason"])


def sync(backend: str) -> None:
    """Wait for queued GPU work (no-op on the CPU backends)."""
    if backend == "cupy":
        import cupy

        cupy.cuda.get_current_stream().synchronize()


class Quick:
    """Timing settings that keep the full suite within minutes on 2 cores."""

    rounds = 1
    repeat = (1, 5, 4.0)
    warmup_time = 0.05
    timeout = 300
