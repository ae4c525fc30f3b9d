"""Compatibility names for the benchmark helpers, which live in :mod:`optkit.bench`.

``make_step``, ``bytes_per_step``, ``time_call`` and ``median_time`` keep working
from here; the optimizer table is :data:`optkit.optim.registry.ALGORITHMS`.
"""

from optkit.bench.steps import STEP_BACKENDS as CHOICES
from optkit.bench.steps import bytes_per_step, make_step
from optkit.bench.timing import median_time, time_call

__all__ = ["CHOICES", "bytes_per_step", "make_step", "median_time", "time_call"]
