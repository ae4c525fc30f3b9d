"""CUDA source of the CuPy BatchNorm kernels, as plain strings (no CuPy import).

:mod:`optkit.kernels.batch_norm_cupy` builds its ``ReductionKernel`` and
``ElementwiseKernel`` objects from these specs; the tests compile the same bodies
with NVRTC (from the ``nvidia-cuda-nvrtc-cu12`` wheel) and run them on the CPU with
the system C++ compiler, so the GPU code is checked on machines without a GPU.

Parameters use CuPy's syntax (``"T x, float64 m"``; ``T`` is the input's dtype).
Arithmetic is float64: values are read with ``optkit_wide`` and stored with
``optkit_narrow<T>`` (float16 through float32, as in the reference).
"""

from __future__ import annotations

__all__ = ["ELEMENTWISE", "PREAMBLE", "REDUCTIONS"]

PREAMBLE = r"""
template <typename V>
__device__ inline double optkit_wide(V v) {
    return static_cast<double>(static_cast<float>(v));
}
__device__ inline double optkit_wide(double v) { return v; }

template <typename V>
__device__ inline V optkit_narrow(double v) { return V(static_cast<float>(v)); }
template <>
__device__ inline double optkit_narrow<double>(double v) { return v; }
"""

#: name -> (in_params, map_expr) of a float64 sum over the reduced axes.
REDUCTIONS = {
    "sum": ("T x", "optkit_wide(x)"),
    "sum_sq_dev": ("T x, float64 m", "(optkit_wide(x) - m) * (optkit_wide(x) - m)"),
    "sum_dy_dev": ("T dy, T x, float64 m", "optkit_wide(dy) * (optkit_wide(x) - m)"),
}

#: name -> (in_params, out_params, operation) of a fused elementwise kernel.
ELEMENTWISE = {
    # y = x·scale + shift, scale = γ·invstd, shift = β − μ·scale (per channel)
    "affine": (
        "T x, float64 scale, float64 shift",
        "T y",
        "y = optkit_narrow<T>(optkit_wide(x) * scale + shift)",
    ),
    # dx = a·dy + b·x + e (per-channel a, b, e; see batch_norm_numba)
    "grad_input": (
        "T dy, T x, float64 a, float64 b, float64 e",
        "T dx",
        "dx = optkit_narrow<T>(a * optkit_wide(dy) + b * optkit_wide(x) + e)",
    ),
}
