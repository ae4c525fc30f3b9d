"""Numba's thread pool, started with a passive OpenMP wait policy unless the user chose.

Under Numba's default threading layer on Linux (``omp``, GNU OpenMP), threads that
finish a parallel loop keep spinning on their cores for a while (``GOMP_SPINCOUNT``)
before they sleep. That is ideal when parallel loops follow each other, and harmful
as soon as another thread pool needs the same cores in between: the matrix products
of NumPy's BLAS between BatchNorm and Adam kernels, torch's own pool, a second
process. On a 2-core machine a training step of an MLP went from 18 ms to 66 ms and
30 epochs on digits from 0.53 s to 11.7 s that way (``tools/bench_nn.py --threads
2``, ``docs/performance.md``), while a lone 2^24 Adam step lost about 10 % to the
passive policy.

So, when the environment does not set ``OMP_WAIT_POLICY``, optkit starts Numba's
pool with ``OMP_WAIT_POLICY=PASSIVE`` in effect and removes the variable again right
after: OpenMP reads it once, when the runtime starts, so only Numba's pool is
affected; other OpenMP runtimes loaded later (torch bundles its own) see the
environment as the user left it. Set ``OMP_WAIT_POLICY=ACTIVE`` (or ``PASSIVE``)
yourself to choose; ``optkit info`` shows what is in effect.
"""

from __future__ import annotations

import os
import threading

__all__ = ["start_threads", "thread_count", "wait_policy"]

_lock = threading.Lock()
_policy: list[str] = []  # the policy Numba's pool started with, once started


def start_threads() -> str:
    """Start Numba's threads (once) and return the OpenMP wait policy in effect for
    them: the user's ``OMP_WAIT_POLICY``, or ``"PASSIVE (optkit's default)"``."""
    with _lock:
        if _policy:
            return _policy[0]
        from numba.np.ufunc import parallel

        user = os.environ.get("OMP_WAIT_POLICY")
        if user is not None or getattr(parallel, "_is_initialized", False):
            _policy.append(user or "unset (Numba's threads were already running)")
            parallel._launch_threads()
            return _policy[0]
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        try:
            parallel._launch_threads()
        finally:
            os.environ.pop("OMP_WAIT_POLICY", None)
        _policy.append("PASSIVE (optkit's default)")
        return _policy[0]


def wait_policy() -> str:
    """The OpenMP wait policy of Numba's threads (starts them if needed)."""
    return start_threads()


def thread_count() -> int:
    """``numba.get_num_threads()``, with the pool started as described above."""
    start_threads()
    import numba

    return numba.get_num_threads()
