"""One optimizer step as a zero-argument callable, on any backend, peer or roofline.

The optimizers are those of :data:`optkit.optim.registry.ALGORITHMS` (the one table
the tests, the benchmarks and the examples share). Bytes per step count each array
an ideal fused step touches once: read ``p``, ``g`` and every state array, write
``p`` and the states; the state arrays are those an optimizer instance reports
(``opt.state_names(group)``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from optkit.bench.machine import require

__all__ = [
    "STEP_BACKENDS",
    "algorithm",
    "bytes_per_step",
    "make_step",
    "state_count",
]

#: Everything :func:`make_step` can time, in the order tables show them.
STEP_BACKENDS = (
    "numpy",
    "numba",
    "cupy",
    "torch-fused",
    "torch-foreach",
    "torch-cuda-fused",
    "roofline",
    "roofline-cuda",
)


def algorithm(name: str) -> Any:
    """The registry entry of optimizer ``name`` (ValueError naming the choices)."""
    from optkit.optim.registry import ALGORITHMS

    if name not in ALGORITHMS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(ALGORITHMS)}")
    return ALGORITHMS[name]


@functools.cache
def state_count(name: str) -> int:
    """Number of state arrays optimizer ``name`` keeps per parameter.

    Examples
    --------
    >>> state_count("sgd"), state_count("adam"), state_count("amsgrad")
    (0, 2, 3)
    """
    opt = algorithm(name).make(np.zeros(1), backend="numpy")
    return len(opt.state_names(opt.param_groups[0]))


def bytes_per_step(name: str, n: int, itemsize: int) -> int:
    """Bytes an ideal fused step moves: read p, g and each state; write p and states.

    Examples
    --------
    >>> bytes_per_step("adam", 1, 4)     # read 4 arrays, write 3
    28
    """
    states = state_count(name)
    return (2 + states + 1 + states) * n * itemsize


def make_step(
    name: str,
    backend: str,
    n: int,
    dtype: Any = np.float32,
    seed: int = 0,
    nonfinite: str = "raise",
) -> Callable[[], Any]:
    """A zero-argument callable doing one step of optimizer ``name`` on ``backend``.

    ``backend`` is an optkit backend (``numpy``, ``numba``, ``cupy``), a torch peer
    (``torch-fused``, ``torch-foreach``, ``torch-cuda-fused``) or a roofline
    (``roofline``, ``roofline-cuda``: the same memory traffic, trivial arithmetic).
    GPU work is synchronized inside the callable. Raises ``NotImplementedError``
    (with the reason and what to install) when the combination cannot run here.

    Examples
    --------
    >>> step = make_step("adam", "numpy", 1000)
    >>> _ = step()
    """
    info = algorithm(name)
    require(backend)
    dtype = np.dtype(dtype)
    if backend == "roofline":
        from optkit.bench.roofline import step_roofline

        return step_roofline(state_count(name), n, dtype)
    if backend == "roofline-cuda":
        from optkit.bench.roofline import cuda_step_roofline

        return cuda_step_roofline(state_count(name), n, dtype)
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal(n).astype(dtype)
    g0 = (0.1 * rng.standard_normal(n)).astype(dtype)
    if backend.startswith("torch"):
        from optkit.bench import peers

        if info.torch_name is None:
            raise NotImplementedError(f"torch has no {info.label} optimizer")
        flavor = backend.rsplit("-", 1)[1]
        device = "cuda" if "cuda" in backend else "cpu"
        kwargs = {"lr": info.lr, **info.kwargs}
        return peers.optimizer_step(info.torch_name, kwargs, flavor, p0, g0, device)
    if backend == "cupy":
        import cupy

        p, g = cupy.asarray(p0), cupy.asarray(g0)
        opt = info.make(p, backend="cupy", nonfinite=nonfinite)
        sync = cupy.cuda.get_current_stream().synchronize

        def step():
            opt.step(g)
            sync()

        return step
    opt = info.make(p0, backend=backend, nonfinite=nonfinite)
    return functools.partial(opt.step, g0)
