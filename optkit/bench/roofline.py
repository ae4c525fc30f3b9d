"""Rooflines: loops that move the bytes of a kernel with trivial arithmetic.

An optimizer step is memory-bound: with ``s`` state arrays an ideal fused step reads
``p``, ``g`` and the states and writes ``p`` and the states (Adam, ``s = 2``: read 4
arrays, write 3, "r4w3"). The loops here do exactly that traffic, in parallel
(serially below ``PARALLEL_FROM`` elements), so a kernel's time over the roofline's
time, measured in the same process, is the fraction of the machine's attainable
bandwidth the kernel reaches. The Numba loops are compiled with ``cache=True`` (kept
on disk across processes); the CuPy ones are built on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: Below this many elements the serial loops run (thread start-up would dominate).
PARALLEL_FROM = 2**16

__all__ = [
    "copy_roofline",
    "cuda_copy_roofline",
    "cuda_read_roofline",
    "cuda_step_roofline",
    "read_roofline",
    "step_roofline",
]


def step_roofline(
    states: int, n: int, dtype: Any, parallel: bool | None = None
) -> Callable[[], None]:
    """A callable with the traffic of one ideal optimizer step with ``states`` states.

    ``parallel``: the ``prange`` loop (True), the serial one (False), or by size
    (None: parallel from ``PARALLEL_FROM`` elements).

    Examples
    --------
    >>> step = step_roofline(2, 1000, "float32")     # Adam's r4w3
    >>> step()
    """
    from optkit.bench._roofline_loops import STEP_LOOPS

    if states not in STEP_LOOPS:
        raise ValueError(f"no roofline loop for {states} state arrays (0 to 3)")
    # Filled, not np.zeros: pages of a fresh np.zeros array that are only read stay
    # mapped to the kernel's shared zero page and read far faster than memory.
    arrays = [np.full(n, 0.5, dtype) for _ in range(2 + states)]
    if parallel is None:
        parallel = n >= PARALLEL_FROM
    loop = STEP_LOOPS[states][0 if parallel else 1]
    loop(*arrays)  # compile or load outside any timing
    return lambda: loop(*arrays)


def copy_roofline(n: int, dtype: Any, passes: int) -> Callable[[], None]:
    """``passes`` parallel copies of ``n`` elements (read ``n``, write ``n`` each).

    BatchNorm forward plus backward on ``S`` bytes of input moves at least ``8S``
    (forward: a statistics pass and a normalize pass, ``3S``; backward: a pass for
    the two sums and one for ``dx``, ``5S``): four copies.
    """
    from optkit.bench._roofline_loops import COPY

    copy = COPY[n < PARALLEL_FROM]
    src, dst = np.full(n, 0.5, dtype), np.empty(n, dtype)
    copy(src, dst)

    def run():
        for _ in range(passes):
            copy(src, dst)

    return run


def read_roofline(n: int, dtype: Any, scale: bool) -> Callable[[], None]:
    """One parallel read of ``n`` elements, then (``scale``) one in-place scaling pass:
    the traffic of clipping by a global norm (a norm under the limit: the read alone)."""
    from optkit.bench._roofline_loops import SCALE, TOTAL

    total, rescale = TOTAL[n < PARALLEL_FROM], SCALE[n < PARALLEL_FROM]
    x = np.full(n, 0.5, dtype)
    one = x.dtype.type(1.0)
    total(x), rescale(x, one)

    def run():
        total(x)
        if scale:
            rescale(x, one)

    return run


def cuda_step_roofline(states: int, n: int, dtype: Any) -> Callable[[], None]:
    """The CuPy twin of :func:`step_roofline` (an ``ElementwiseKernel``), synchronized."""
    import cupy

    outs = ", ".join(f"T o{k}" for k in range(1 + states))
    body = " ".join(f"o{k} = o{k} + g;" for k in range(1 + states))
    kernel = cupy.ElementwiseKernel(
        "T g", outs, body, f"optkit_roofline_r{2 + states}", no_return=True
    )
    arrays = [cupy.full(n, 0.5, dtype) for _ in range(2 + states)]
    sync = cupy.cuda.get_current_stream().synchronize

    def run():
        kernel(*arrays)
        sync()

    run()
    return run


def cuda_copy_roofline(n: int, dtype: Any, passes: int) -> Callable[[], None]:
    """The CuPy twin of :func:`copy_roofline`, synchronized."""
    import cupy

    src, dst = cupy.full(n, 0.5, dtype), cupy.empty(n, dtype)
    sync = cupy.cuda.get_current_stream().synchronize

    def run():
        for _ in range(passes):
            cupy.copyto(dst, src)
        sync()

    run()
    return run


def cuda_read_roofline(n: int, dtype: Any, scale: bool) -> Callable[[], None]:
    """The CuPy twin of :func:`read_roofline` (a sum, then an in-place scaling)."""
    import cupy

    x = cupy.full(n, 0.5, dtype)
    sync = cupy.cuda.get_current_stream().synchronize

    def run():
        x.sum()
        if scale:
            cupy.multiply(x, 1.0, out=x)
        sync()

    run()
    return run
