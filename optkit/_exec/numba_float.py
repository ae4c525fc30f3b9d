"""Element loads and stores for the Numba kernels, float16 included.

Numba has no float16 type on the CPU, so the wrappers hand float16 arrays to the
kernels as ``uint16`` views of the same bytes. :func:`widen` turns any element
(float16 bits, float32, float64) into a float64 for arithmetic; :func:`narrow`
turns a float64 back into the element type of a given output array. The float16
conversions are LLVM ``fpext``/``fptrunc`` on ``half``, which LLVM vectorizes
(``vcvtph2ps``/``vcvtps2ph`` with F16C, native with AVX512-FP16). Narrowing goes
through float32 (two roundings), like a float32 computation cast to float16.

Imported only by generated Numba modules, hence only when the Numba
backend is first used.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = ["narrow", "widen"]


@intrinsic
def _half_bits_to_float32(typingctx, bits):
    """float16 given as its uint16 bit pattern → float32 (exact)."""
    if bits != types.uint16:
        return None

    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return types.float32(types.uint16), codegen


@intrinsic
def _float32_to_half_bits(typingctx, value):
    """float32 → the uint16 bit pattern of the nearest float16 (ties to even)."""
    if value != types.float32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(builder.fptrunc(args[0], ir.HalfType()), ir.IntType(16))

    return types.uint16(types.float32), codegen


def widen(value):
    """An element as a float64 (``uint16`` elements hold float16 bits)."""
    return float(value)


def narrow(value, like):
    """A float64 as an element of the array ``like`` (``uint16``: float16 bits)."""
    return like.dtype.type(value)


@overload(widen, inline="always")
def _widen_impl(value):
    if value == types.uint16:
        return lambda value: np.float64(_half_bits_to_float32(value))
    if isinstance(value, types.Float):
        return lambda value: np.float64(value)
    return None


@overload(narrow, inline="always")
def _narrow_impl(value, like):
    dtype = like.dtype
    if dtype == types.uint16:
        return lambda value, like: _float32_to_half_bits(np.float32(value))
    if dtype == types.float32:
        return lambda value, like: np.float32(value)
    if dtype == types.float64:
        return lambda value, like: np.float64(value)
    return None
