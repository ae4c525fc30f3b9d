"""Non-element-wise kernels (reductions): batch normalization.

Each kernel has an Array API reference (the spec) and fast paths for Numba and
CuPy, imported on first use.
"""

from optkit.kernels.batch_norm import BatchNormCache, batch_norm, batch_norm_backward

__all__ = ["BatchNormCache", "batch_norm", "batch_norm_backward"]
