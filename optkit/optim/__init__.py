"""Optimizer classes: thin, stateful wrappers around the rules of :mod:`optkit.rules`."""

from optkit.optim.adagrad import Adagrad
from optkit.optim.adam import Adam, AdamW
from optkit.optim.delta_bar_delta import DeltaBarDelta
from optkit.optim.nadam import NAdam
from optkit.optim.optimizer import Optimizer
from optkit.optim.rmsprop import RMSprop
from optkit.optim.sgd import SGD

__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "DeltaBarDelta",
    "NAdam",
    "Optimizer",
    "RMSprop",
]
