"""Layers: :class:`BatchNorm` (and, later, a small MLP stack)."""

from optkit.nn.batch_norm import BatchNorm

__all__ = ["BatchNorm"]
