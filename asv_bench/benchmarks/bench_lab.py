"""The optimization lab: population runs and the cost of curvature records.

Workloads live in :mod:`optkit.lab.bench` (``python -m optkit.lab.bench`` prints
the ratios once). ``backend`` is the first parameter everywhere; combinations that
cannot run here (no GPU, no torch) are skipped.
"""

from __future__ import annotations

import statistics
import time

from optkit.lab import bench

from .common import Settings


class LabPopulation:
    """1,000 Rosenbrock (dim 2) runs x 1,000 Adam steps, each run its own lr and start.

    ``what="lab.run"``: through ``ok.lab.run`` (problem evaluation, non-finite check
    and the loss record included); ``"optimizer-only"``: the population kernel alone
    (``opt.step`` on a fixed gradient). ``torch-loop``: 1,000 torch Adams stepped in
    a Python loop (``lab.run``: with the gradient computed per run; ``optimizer-only``:
    fixed gradients), timed on 20 steps and scaled to 1,000 (targets: lab.run ≥ 100x
    faster than the torch loop, ≤ 3x the optimizer-only kernel).
    """

    params = (["numba", "numpy", "cupy", "torch-loop"], ["lab.run", "optimizer-only"])
    param_names = ["backend", "what"]
    timeout = 600
    torch_steps = 20

    def setup(self, backend, what):
        if backend == "torch-loop":
            self.call = bench.torch_loop_population(
                steps=self.torch_steps, with_problem=what == "lab.run"
            )
            self.scale = bench.STEPS / self.torch_steps
        elif what == "lab.run":
            self.call, self.scale = bench.lab_population(backend), 1.0
        else:
            self.call, self.scale = bench.optimizer_only_population(backend), 1.0
        self.call()  # compile, load kernels, warm caches

    def track_seconds(self, backend, what):
        times = []
        for _ in range(1 if backend == "torch-loop" else 3):
            t0 = time.perf_counter()
            self.call()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * self.scale

    track_seconds.unit = "seconds"


class LabRecording(Settings):
    """``quadratic(dim=10_000, kappa=1e4)``, 100 SGD steps recorded every step:
    ``record=("loss",)`` vs ``("loss", "curvature")`` (one hvp per record)."""

    params = (["numba", "numpy", "cupy"], ["loss", "loss+curvature"])
    param_names = ["backend", "record"]

    def setup(self, backend, record):
        names = tuple(record.split("+"))
        self.call = bench.recording_run(backend, names, steps=100)
        self.names = names
        self.call()

    def time_run(self, backend, record):
        self.call()

    def track_hvps_per_record(self, backend, record):
        return bench.hvps_per_record(self.names)

    track_hvps_per_record.unit = "hvps"
