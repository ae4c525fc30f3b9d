"""Ratios measured interleaved in one process: the performance targets, and where
parallel loops start to pay off.

``Targets`` (Numba) and ``TargetsGpu`` (CuPy) run the same code as ``optkit bench
targets`` once (in ``setup_cache``) and reports each figure as a ``track_`` benchmark, so the dashboard
follows every target from commit to commit.
"""

from __future__ import annotations

import math
import statistics

from optkit.bench import targets, timing
from optkit.bench.machine import missing_message
from optkit.bench.steps import make_step

#: asv's unit of each kind of target value.
UNITS = {"x": "ratio", "x faster": "ratio", "of roofline": "fraction", "fraction": "fraction",
         "us": "microseconds"}  # fmt: skip


def _measure(backend: str) -> dict[str, float | None]:
    """Every target on ``backend`` (empty where it cannot run here)."""
    if missing_message(backend):
        return {}
    values = {}
    for _, group in targets.measure(backend):
        values.update({t.key: t.value for t in group})
    return values


class _TargetTracks:
    """``track_<key>`` for every target (added below); skipped when not measured."""

    param_names = ["backend"]
    timeout = 1200
    rounds = 1
    repeat = 1

    def setup(self, measured, backend):
        if not measured:
            raise NotImplementedError(missing_message(backend) or "nothing measured")


class Targets(_TargetTracks):
    """The performance targets on the CPU (Numba), as ``optkit bench targets``."""

    params = (["numba"],)

    def setup_cache(self):  # its own line: asv shares caches of the same function
        return _measure("numba")


class TargetsGpu(_TargetTracks):
    """The performance targets on a GPU (CuPy), as ``optkit bench targets --backend
    cupy``."""

    params = (["cupy"],)

    def setup_cache(self):
        return _measure("cupy")


def _track(key: str, unit: str, what: str):
    def track(self, measured, backend):
        value = measured.get(key)
        return math.nan if value is None else value

    track.__name__ = track.__qualname__ = f"track_{key}"
    track.unit = unit
    track.pretty_name = what
    return track


for _key, _what in targets.DESCRIPTIONS.items():
    setattr(
        _TargetTracks,
        f"track_{_key}",
        _track(_key, UNITS[targets.Target(_key, "", None).unit], _what),
    )


class ParallelCrossover:
    """Where a parallel (``prange``) loop starts to beat the serial one, and how an
    optkit Numba step compares with the faster of the two rooflines.

    size: 1024 = 2^10 ... 1048576 = 2^20 float32 elements (Adam traffic, r4w3).
    """

    params = (["numba"], [2**10, 2**12, 2**14, 2**16, 2**18, 2**20])
    param_names = ["backend", "size"]
    rounds = 1
    repeat = 1
    timeout = 120

    def setup(self, backend, size):
        from optkit.bench.roofline import step_roofline

        serial = step_roofline(2, size, "float32", parallel=False)
        parallel = step_roofline(2, size, "float32", parallel=True)
        contenders = {"serial": serial, "parallel": parallel,
                      "step": make_step("adam", backend, size)}  # fmt: skip
        self.times = timing.interleaved(contenders, rounds=15, min_time=0.01)

    def track_serial_over_parallel(self, backend, size):
        return timing.median_ratio(self.times["serial"], self.times["parallel"])

    track_serial_over_parallel.unit = "ratio"

    def track_step_over_best_roofline(self, backend, size):
        best = [min(s, p) for s, p in zip(self.times["serial"], self.times["parallel"])]
        return statistics.median(s / b for s, b in zip(self.times["step"], best))

    track_step_over_best_roofline.unit = "ratio"
