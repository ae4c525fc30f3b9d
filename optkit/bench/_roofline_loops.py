"""Numba loops of :mod:`optkit.bench.roofline` (imported on first use; cached on disk).

``r{R}w{W}`` reads ``R`` arrays and writes the first ``W``; the sum keeps every read
alive. One loop per optimizer state count (0 to 3 states: SGD to AMSGrad), each
compiled twice: with ``prange`` threads, and serial (small arrays, where starting
threads costs more than the loop).
"""

import types

import numba
from numba import prange


def _r2w1(a0, a1):
    for i in prange(a0.shape[0]):
        a0[i] = a0[i] + a1[i]


def _r3w2(a0, a1, a2):
    for i in prange(a0.shape[0]):
        s = a0[i] + a1[i] + a2[i]
        a0[i] = s
        a1[i] = s


def _r4w3(a0, a1, a2, a3):
    for i in prange(a0.shape[0]):
        s = a0[i] + a1[i] + a2[i] + a3[i]
        a0[i] = s
        a1[i] = s
        a2[i] = s


def _r5w4(a0, a1, a2, a3, a4):
    for i in prange(a0.shape[0]):
        s = a0[i] + a1[i] + a2[i] + a3[i] + a4[i]
        a0[i] = s
        a1[i] = s
        a2[i] = s
        a3[i] = s


def _copy(src, dst):
    for i in prange(src.shape[0]):
        dst[i] = src[i]


def _scale(x, c):
    for i in prange(x.shape[0]):
        x[i] = x[i] * c


def _renamed(fn, suffix):
    """A copy of ``fn`` under another name, so that its disk cache entry is its own."""
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + suffix)
    twin.__qualname__ = fn.__qualname__ + suffix
    return twin


def _both(fn):
    """(parallel, serial) compiled versions of ``fn``."""
    parallel = numba.njit(parallel=True, error_model="numpy", cache=True)(fn)
    serial = numba.njit(error_model="numpy", cache=True)(_renamed(fn, "_serial"))
    return parallel, serial


STEP_LOOPS = {k: _both(fn) for k, fn in enumerate((_r2w1, _r3w2, _r4w3, _r5w4))}
COPY = _both(_copy)
SCALE = _both(_scale)


@numba.njit(parallel=True, error_model="numpy", fastmath={"reassoc"}, cache=True)
def _total(x):
    s = 0.0
    for i in prange(x.shape[0]):
        s += x[i]
    return s


@numba.njit(error_model="numpy", fastmath={"reassoc"}, cache=True)
def _total_serial(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i]
    return s


TOTAL = (_total, _total_serial)
