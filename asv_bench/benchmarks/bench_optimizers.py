"""One optimizer step: every optimizer x backend (first) x size x dtype."""

from __future__ import annotations

import numpy as np

from optkit.bench.steps import make_step

from .common import DTYPES, OPTIMIZER_BACKENDS, OPTIMIZERS, SIZES, Settings


class StepSetup:
    """Builds ``self.step``: one step of ``optimizer`` on ``backend`` (warm)."""

    def setup(self, backend, optimizer, size, dtype):
        self.step = self.reuse(
            (backend, optimizer, size, dtype),
            lambda: make_step(optimizer, backend, size, np.dtype(dtype)),
        )


class OptimizerStep(StepSetup, Settings):
    """Time and peak memory of one step (default ``nonfinite="raise"``).

    size: 4096 = 2^12, 1048576 = 2^20, 16777216 = 2^24 parameters. ``roofline``
    moves the step's bytes (read p, g and each state; write p and the states) with
    trivial arithmetic; ``roofline / backend`` time is the fraction of attainable
    bandwidth the backend reaches.
    """

    params = (OPTIMIZER_BACKENDS, OPTIMIZERS, SIZES, DTYPES)
    param_names = ["backend", "optimizer", "size", "dtype"]

    def time_step(self, backend, optimizer, size, dtype):
        self.step()

    def peakmem_step(self, backend, optimizer, size, dtype):
        self.step()
