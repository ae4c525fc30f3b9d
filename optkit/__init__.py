"""optkit: gradient-based optimizers written once, run on NumPy, Numba and CuPy.

>>> import numpy as np, optkit as ok
>>> w = np.array([3.0, -4.0])
>>> opt = ok.Adam(w, lr=0.1)
>>> for _ in range(200):
...     _ = opt.step(2 * w)               # minimize ||w||^2
>>> bool(np.abs(w).max() < 0.05)
True
"""

from optkit import nn, schedules
from optkit._backend import backends, get_backend, set_backend, use_backend
from optkit._version import __version__
from optkit.averaging import PolyakAverage
from optkit.checkpoint import load_checkpoint, save_checkpoint
from optkit.clipping import clip_by_global_norm, clip_by_norm, clip_by_value
from optkit.errors import NonFiniteGradientError
from optkit.kernels import batch_norm, batch_norm_backward
from optkit.optim import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    DeltaBarDelta,
    NAdam,
    Optimizer,
    RMSprop,
)
from optkit.params import FlatParams
from optkit.rules import rule

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "DeltaBarDelta",
    "FlatParams",
    "NAdam",
    "NonFiniteGradientError",
    "Optimizer",
    "PolyakAverage",
    "RMSprop",
    "__version__",
    "backends",
    "batch_norm",
    "batch_norm_backward",
    "clip_by_global_norm",
    "clip_by_norm",
    "clip_by_value",
    "get_backend",
    "load_checkpoint",
    "nn",
    "rule",
    "save_checkpoint",
    "schedules",
    "set_backend",
    "use_backend",
]
