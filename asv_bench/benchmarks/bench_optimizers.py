"""One optimizer step: every optimizer x backend/peer x size x dtype."""

from __future__ import annotations

import numpy as np

from optkit import benchmark as okb

from .common import BACKENDS, DTYPES, SIZES, Quick


class OptimizerStep(Quick):
    """``time_`` per step, ``peakmem_``, and ``track_`` GB/s / fraction of the roofline
    (a same-process Numba loop with the same memory traffic)."""

    params = (list(okb.OPTIMIZERS), BACKENDS, SIZES, DTYPES)
    param_names = ["optimizer", "backend", "size", "dtype"]

    def setup(self, name, backend, size, dtype):
        self.step = okb.make_step(name, backend, size, np.dtype(dtype))
        self.step()  # compile / load kernels, allocate state
        self.nbytes = okb.bytes_per_step(name, size, np.dtype(dtype).itemsize)

    def time_step(self, name, backend, size, dtype):
        self.step()

    def peakmem_step(self, name, backend, size, dtype):
        self.step()

    def track_gbps(self, name, backend, size, dtype):
        return self.nbytes / okb.time_call(self.step, min_time=0.05, repeat=3) / 1e9

    track_gbps.unit = "GB/s"

    def track_roofline_fraction(self, name, backend, size, dtype):
        roof = okb.time_call(
            okb.roofline_step(name, size, np.dtype(dtype)), min_time=0.05, repeat=3
        )
        return roof / okb.time_call(self.step, min_time=0.05, repeat=3)

    track_roofline_fraction.unit = "fraction of roofline"
