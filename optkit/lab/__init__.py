"""The optimization lab: population runs on :mod:`optkit.problems`, traces, plots.

:func:`run` advances K runs of one optimizer (different hyperparameters, starts or
seeds) with one optimizer step per iteration over a ``(K, dim)`` array and returns
a :class:`Trace`; :func:`plot_landscape` and :func:`plot_curves` draw traces
(matplotlib, ``pip install 'optkit[plot]'``).

Examples
--------
>>> import numpy as np, optkit as ok
>>> q = ok.problems.quadratic(dim=10, kappa=100.0)
>>> trace = ok.lab.run(q, "momentum", steps=300, lr=np.geomspace(1e-3, 1e-2, 4),
...                    momentum=0.9, record=("loss", "curvature"))
>>> trace["gTHg"].shape, bool(trace.final("loss")[-1] < 1e-6)
((301, 4), True)
"""

from optkit.lab._parts import NonFiniteRunError
from optkit.lab._plots import plot_curves, plot_landscape
from optkit.lab._run import run
from optkit.lab._setup import OPTIMIZERS
from optkit.lab._trace import Trace
from optkit.lab.race import RaceResult, race

__all__ = [
    "OPTIMIZERS",
    "NonFiniteRunError",
    "RaceResult",
    "Trace",
    "plot_curves",
    "plot_landscape",
    "race",
    "run",
]
