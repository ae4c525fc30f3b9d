"""Layers, models and losses with explicit forward and backward passes.

``Linear``, ``ReLU``, ``Tanh``, ``Sigmoid``, ``Dropout``, ``BatchNorm`` and
``Sequential`` (plus the ``mlp`` builder) follow torch's names, layouts and
initialisation; ``init`` holds the initialisers, ``cross_entropy`` and ``mse`` the
losses. Training loops: ``optkit.fit``. See ``docs/nn.md`` for the layer protocol.
"""

from optkit.nn import init
from optkit.nn.batch_norm import BatchNorm
from optkit.nn.history import History
from optkit.nn.layer_norm import LayerNorm
from optkit.nn.layers import Dropout, Linear, ReLU, Sigmoid, Tanh
from optkit.nn.losses import accuracy, cross_entropy, mse
from optkit.nn.models import mlp
from optkit.nn.sequential import Sequential

__all__ = [
    "BatchNorm",
    "Dropout",
    "History",
    "LayerNorm",
    "Linear",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "accuracy",
    "cross_entropy",
    "init",
    "mlp",
    "mse",
]
