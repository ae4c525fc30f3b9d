"""Hyperparameter sweeps on Dask: grids and random searches over hyperparameters,
problem parameters and seeds, batched into population runs, resumable.

A spec (TOML or a dict, :func:`load_spec`) expands into cells (hyperparameters x
problem configuration x seed, :func:`expand`); cells that share a problem
configuration run together as one :func:`optkit.lab.run` population (one
optimizer kernel call per step for the whole batch, :func:`plan_batches`); each
batch is a Dask task whose inputs are rebuilt on the worker from the spec; every
finished batch is written by the driver as one Parquet file in the output folder,
so a rerun resumes where a killed driver, worker or scheduler left off.

:func:`run` runs a sweep (a ``LocalCluster`` by default, any scheduler by address)
and returns its table; :func:`status`, :func:`results` and :func:`plot` read an
output folder. The ``optkit sweep`` command does the same from a shell. Needs
``pip install 'optkit[sweep]'`` (Dask, pandas, pyarrow; matplotlib for plots:
``optkit[plot]``). Design notes: ``docs/sweep.md``.

Examples
--------
>>> from optkit import sweep
>>> spec = sweep.parse_spec('''
... problem = { name = "quadratic", dim = 10, kappa = [10, 100] }
... optimizer = "momentum"
... steps = 500
... seeds = 3
... metric = "steps_to:1e-6"
... [grid]
... lr = { logspace = [-3, -1, 5] }
... momentum = [0.0, 0.9]
... '''.strip())
>>> len(sweep.expand(spec))                   # 2 kappas x 5 rates x 2 momenta x 3 seeds
60
"""

from optkit.sweep._plot import plot
from optkit.sweep._report import results, status
from optkit.sweep.cells import Batch, Cell, expand, plan_batches
from optkit.sweep.driver import run
from optkit.sweep.errors import SpecChangedError, SpecError, SweepAborted
from optkit.sweep.spec import Spec, load_spec, parse_spec

__all__ = [
    "Batch",
    "Cell",
    "Spec",
    "SpecChangedError",
    "SpecError",
    "SweepAborted",
    "expand",
    "load_spec",
    "parse_spec",
    "plan_batches",
    "plot",
    "results",
    "run",
    "status",
]
