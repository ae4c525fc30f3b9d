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
from optkit.errors import CheckpointError, NonFiniteGradientError
from optkit.nn.functional import (
    batch_norm,
    batch_norm_backward,
    layer_norm,
    layer_norm_backward,
)
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

#: Research layers, imported on first attribute access (``ok.lab``, ``ok.torch``, ...) so
#: that ``import optkit`` stays light: name -> (module, attribute or None for the module).
_LAZY = {
    "problems": ("optkit.problems", None),
    "diagnostics": ("optkit.diagnostics", None),
    "lab": ("optkit.lab", None),
    "datasets": ("optkit.datasets", None),
    "fit": ("optkit.nn.fit", "fit"),
    "sweep": ("optkit.sweep", None),
    "torch": ("optkit.torch", None),
}


def __getattr__(name: str):
    entry = _LAZY.get(name)
    if entry is None:
        raise AttributeError(f"module 'optkit' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(entry[0])
    value = module if entry[1] is None else getattr(module, entry[1])
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "CheckpointError",
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
    "layer_norm",
    "layer_norm_backward",
    "get_backend",
    "load_checkpoint",
    "nn",
    "rule",
    "save_checkpoint",
    "schedules",
    "set_backend",
    "use_backend",
]
