"""Model builders: ``mlp`` (a multilayer perceptron as a :class:`Sequential`)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import numpy as np

from optkit.nn import init as nn_init
from optkit.nn.batch_norm import BatchNorm
from optkit.nn.layers import Dropout, Linear, ReLU, Sigmoid, Tanh
from optkit.nn.sequential import Sequential

__all__ = ["mlp"]

_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


def mlp(
    sizes: Sequence[int],
    activation: str = "relu",
    *,
    batch_norm: bool = False,
    dropout: float = 0.0,
    dtype: Any = "float32",
    rng: np.random.Generator | None = None,
    seed: int | None = None,
    backend: str | None = None,
) -> Sequential:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]``.

    Each hidden layer is ``Linear``, then ``BatchNorm`` (with ``batch_norm``, before
    the nonlinearity as in Ioffe & Szegedy, 2015), the activation, then ``Dropout``
    (with ``dropout > 0``); the last ``Linear`` gives the outputs (logits). Names and
    layouts are those of the same ``torch.nn.Sequential``.

    Parameters
    ----------
    sizes : sequence of int
        Widths, input first (at least two).
    activation : {"relu", "tanh", "sigmoid"}
    batch_norm : bool
    dropout : float
    dtype : dtype, default "float32"
        Of every parameter and BatchNorm statistic.
    rng, seed : numpy Generator or int, optional
        One generator initialises every layer in order (torch's default init) and
        seeds the Dropout masks.
    backend : str, optional

    Examples
    --------
    >>> from optkit.nn import mlp
    >>> model = mlp([64, 32, 10], batch_norm=True, seed=0)
    >>> model
    Sequential(
      (0): Linear(in_features=64, out_features=32, bias=True)
      (1): BatchNorm(32, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, axis=1, dtype=float32)
      (2): ReLU()
      (3): Linear(in_features=32, out_features=10, bias=True)
    )
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"sizes={sizes!r}: need at least an input and an output width")
    if activation not in _ACTIVATIONS:
        raise ValueError(
            f"activation={activation!r}: expected one of {', '.join(_ACTIVATIONS)}"
        )
    gen = nn_init.generator(rng, seed)
    layers: list[Any] = []
    for width_in, width_out in pairwise(sizes[:-1]):
        layers.append(Linear(width_in, width_out, dtype=dtype, rng=gen, backend=backend))
        if batch_norm:
            layers.append(BatchNorm(width_out, dtype=dtype, backend=backend))
        layers.append(_ACTIVATIONS[activation](backend=backend))
        if dropout:
            layers.append(Dropout(dropout, rng=gen.spawn(1)[0]))
    layers.append(Linear(sizes[-2], sizes[-1], dtype=dtype, rng=gen, backend=backend))
    return Sequential(*layers)
