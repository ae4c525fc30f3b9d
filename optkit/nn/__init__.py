"""Layers: :class:`BatchNorm`, :class:`LayerNorm` (and functional forms in
:mod:`optkit.nn.functional`)."""

from optkit.nn.batch_norm import BatchNorm
from optkit.nn.layer_norm import LayerNorm

__all__ = ["BatchNorm", "LayerNorm"]
