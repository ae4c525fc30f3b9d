"""Shared pieces of the asv suite: backend lists, sizes, timing settings.

Every parameterized benchmark has ``backend`` as its **first** parameter, so asv's
default graph shows the backends as separate curves. The backend names are the same
everywhere:

* optkit: ``numpy``, ``numba``, ``cupy``;
* torch peers: ``torch-fused``, ``torch-foreach``, ``torch-cuda-fused`` (optimizers),
  ``torch``, ``torch-cuda`` (BatchNorm, LayerNorm, clipping), ``torch-loop`` (one
  torch optimizer per problem);
* rooflines: ``roofline`` (a Numba loop with the kernel's memory traffic and trivial
  arithmetic) and ``roofline-cuda`` (its CuPy twin): the time a kernel could take.

A combination that cannot run on a machine (no GPU, no torch, no LayerNorm in this
optkit) raises ``NotImplementedError`` in ``setup`` and asv records it as skipped, so
parameter lists are identical on every machine and CPU and GPU dashboards line up.
JITs are warmed in ``setup``; GPU work is synchronized inside the timed callables.

Sizes are integers (elements) named in each docstring: 4096 = 2^12,
1048576 = 2^20, 16777216 = 2^24.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable

from optkit.bench.machine import require as require_backend
from optkit.bench.steps import STEP_BACKENDS
from optkit.optim.registry import ALGORITHMS

if importlib.util.find_spec("torch") is not None:
    # Imported here, once, by asv's fork server: each benchmark process forked from it
    # then starts without paying torch's import again (seconds on a loaded machine).
    # Importing starts no threads and no CUDA context, so forking stays safe.
    import torch  # noqa: F401

#: Backends of an optimizer step (optkit, torch peers, rooflines): eight curves.
OPTIMIZER_BACKENDS = list(STEP_BACKENDS)
#: Backends of the other kernels.
KERNEL_BACKENDS = [
    "numpy",
    "numba",
    "cupy",
    "torch",
    "torch-cuda",
    "roofline",
    "roofline-cuda",
]
#: Every optimizer of the registry, by name.
OPTIMIZERS = list(ALGORITHMS)
SIZES = [2**12, 2**20, 2**24]
DTYPES = ["float32", "float64"]


_BUILT: dict[tuple, tuple[Callable, int]] = {}


def require(module: str) -> None:
    """Skip (``NotImplementedError``) when ``module`` is not importable."""
    if importlib.util.find_spec(module) is None:
        raise NotImplementedError(f"{module} is not installed")


def require_gpu() -> None:
    """Skip unless CuPy sees a CUDA device."""
    require_backend("cupy")


class Reuse:
    """Build a benchmark's callable once per process, however often ``setup`` runs.

    asv_runner 0.3 re-runs ``setup`` before every timed call of a ``time_`` benchmark
    (and then times one call per sample): ``reuse`` makes that a dictionary lookup,
    and sets ``number`` (calls per sample) so that a sample lasts ``sample_time``.
    """

    sample_time = 0.01

    def reuse(self, key: tuple, build: Callable[[], Callable]) -> Callable:
        key = (type(self).__name__, *key)
        if key not in _BUILT:
            _BUILT.clear()  # one combination at a time: free the previous one's arrays
            fn = build()
            fn()  # compile / load kernels, allocate state
            t0 = time.perf_counter()
            fn()
            once = max(time.perf_counter() - t0, 1e-7)
            _BUILT[key] = fn, max(1, min(10_000, int(self.sample_time / once)))
        fn, self.number = _BUILT[key]
        return fn


class Settings(Reuse):
    """Timing settings that keep the full suite to about an hour on 2 cores."""

    rounds = 1
    repeat = (1, 5, 4.0)
    warmup_time = 0.05
    timeout = 300


class QuickSettings(Reuse):
    """Fewer samples, for the quick subset (``asv run -b ^quick``)."""

    rounds = 1
    repeat = (1, 3, 1.0)
    warmup_time = 0.02
    timeout = 120
