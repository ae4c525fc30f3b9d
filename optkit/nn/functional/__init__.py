"""Functional normalization layers: forward and backward passes on plain arrays."""

from optkit.nn.functional.batch_norm import BatchNormCache, batch_norm, batch_norm_backward
from optkit.nn.functional.layer_norm import LayerNormCache, layer_norm, layer_norm_backward

__all__ = [
    "BatchNormCache",
    "LayerNormCache",
    "batch_norm",
    "batch_norm_backward",
    "layer_norm",
    "layer_norm_backward",
]
