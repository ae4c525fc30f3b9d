"""Sweeps on Dask: population batches against one cell per task, and 1 vs 2 workers.

Workloads live in :mod:`optkit.sweep.bench` (``python -m optkit.sweep.bench`` prints
the ratios once). ``backend`` is the first parameter; without the sweep extra
(Dask, pandas, pyarrow) every benchmark is skipped.
"""

from __future__ import annotations

from .common import require


class SweepBatching:
    """2,000 small cells (Rosenbrock, Adam, 100 steps) on two worker processes:
    ``sweep.run`` with population batches, or every cell its own Dask task
    (target: batches >= 20x the cells per second)."""

    params = (["numba", "numpy"], ["batches", "cell-per-task"])
    param_names = ["backend", "what"]
    timeout = 900
    number = 1
    repeat = 1

    def setup(self, backend, what):
        for module in ("distributed", "pandas", "pyarrow", backend):
            require(module)
        from optkit.sweep import bench

        self.spec = bench.small_spec(backend=backend)
        self.context = bench.cluster(2)
        self.client = self.context.__enter__()
        bench.warm(self.client, self.spec)
        self.measure = (
            bench.batched_seconds if what == "batches" else bench.per_task_seconds
        )

    def teardown(self, backend, what):
        self.context.__exit__(None, None, None)

    def track_cells_per_second(self, backend, what):
        seconds, cells = self.measure(self.client, self.spec)
        return cells / seconds

    track_cells_per_second.unit = "cells/s"


class SweepScaling:
    """4,096 CPU-bound cells (Rosenbrock in 200 dimensions, batches of 256) on 1 or 2
    single-threaded workers (target: 2 workers >= 1.7x the throughput of 1)."""

    params = (["numba"], [1, 2])
    param_names = ["backend", "workers"]
    timeout = 900
    number = 1
    repeat = 1

    def setup(self, backend, workers):
        for module in ("distributed", "pandas", "pyarrow", backend):
            require(module)
        from optkit.sweep import bench

        self.spec = {**bench.scaling_spec(), "backend": backend}
        self.context = bench.cluster(workers)
        self.client = self.context.__enter__()
        bench.warm(self.client, self.spec)

    def teardown(self, backend, workers):
        self.context.__exit__(None, None, None)

    def track_cells_per_second(self, backend, workers):
        from optkit.sweep import bench

        seconds, cells = bench.batched_seconds(self.client, self.spec)
        return cells / seconds

    track_cells_per_second.unit = "cells/s"
