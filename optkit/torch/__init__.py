"""optkit for PyTorch: optkit's optimizers as ``torch.optim.Optimizer`` subclasses.

``ok.torch.SGD``, ``Adagrad``, ``RMSprop``, ``Adam``, ``AdamW``, ``NAdam`` and
``DeltaBarDelta`` (and any optkit optimizer through :func:`wrap`) are constructed
like torch's, read ``p.grad`` and update ``p`` in place with optkit's generated
kernels, on the tensors' memory (NumPy views into the Numba executor on the CPU,
DLPack into CuPy on CUDA). torch's base class provides ``zero_grad``, hooks, the
learning-rate schedulers, ``GradScaler.step`` and the state dict machinery; the
state lives in tensors with torch's names, so checkpoints move between
``torch.optim.Adam`` and ``ok.torch.Adam`` both ways. :func:`flatten_` puts a
model's parameters and gradients into one buffer per dtype so that a step is one
kernel call; :class:`PolyakAverage` averages a model's parameters.

PyTorch is an optional dependency: ``pip install 'optkit[torch]'``.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised without torch
    raise ImportError("optkit.torch needs PyTorch: pip install 'optkit[torch]'") from exc

from optkit.torch._base import TorchOptimizer
from optkit.torch.averaging import PolyakAverage
from optkit.torch.flatten import Flattened, flatten_
from optkit.torch.optimizers import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    DeltaBarDelta,
    NAdam,
    RMSprop,
    wrap,
)

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "DeltaBarDelta",
    "Flattened",
    "NAdam",
    "PolyakAverage",
    "RMSprop",
    "TorchOptimizer",
    "flatten_",
    "wrap",
]
