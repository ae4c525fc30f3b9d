"""A host stand-in for the parts of CuPy that :mod:`optkit._exec.cupy` uses.

``ElementwiseKernel`` and ``ReductionKernel`` here take CuPy's arguments and run the
very same generated C++ body compiled for the host by g++ (:mod:`_support.native`):
arrays are broadcast as CuPy broadcasts them, ``T`` is bound by the arguments of type
``T`` (mismatches raise as in CuPy), ``float64``/``int64`` params are cast, scalars
are passed by value, in-params are read as ``const T&`` and out-params written
through ``T&``. A reduction computes each element's term with the generated
``__device__`` function, then sums the terms over the axes in float64 (int64 for
counts); CuPy's summation tree is its own, the terms are ours.

Arrays are a NumPy subclass whose module is ``cupy``, so optkit's backend registry
sees them as CuPy arrays and the whole public API runs through the CuPy executor on
the CPU: the "CUDA twin" backend of the test suite. float16 is not supported here.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import types

import numpy as np

from _support.native import build_host_library

__all__ = ["fake_cupy_module", "ndarray"]

_C = {"float32": "float", "float64": "double", "int64": "long long", "bool": "bool"}
_CT = {"float32": ctypes.c_float, "float64": ctypes.c_double, "int64": ctypes.c_longlong}
_HEAD = "#include <cmath>\nusing namespace std;\n#define __device__\n"


class ndarray(np.ndarray):
    """A NumPy array that optkit takes for a CuPy array."""

    __module__ = "cupy"

    def get(self) -> np.ndarray:
        return np.array(self, copy=True).view(np.ndarray)


def asarray(a, dtype=None, order=None) -> ndarray:
    return np.asarray(np.asarray(a), dtype=dtype, order=order).view(ndarray)


def array(a, dtype=None, order="K", copy=True) -> ndarray:
    return np.array(np.asarray(a), dtype=dtype, order=order, copy=copy).view(ndarray)


def _params(text: str) -> list[tuple[str, str]]:
    return [tuple(p.split()) for p in filter(None, (s.strip() for s in text.split(",")))]


def _bind_types(params, args) -> str:
    """The dtype bound to ``T`` (CuPy: every ``T`` argument must agree)."""
    bound = None
    for (ctype, _), a in zip(params, args):
        if ctype == "T" and isinstance(a, np.ndarray | np.generic):
            name = np.dtype(a.dtype).name
            if bound is not None and name != bound:
                raise TypeError(f"Type is mismatched. {name} {bound}")
            bound = bound or name
    if bound is None:
        raise TypeError("cannot bind T: no typed argument")
    if bound not in ("float32", "float64"):
        raise NotImplementedError(f"the host stand-in of CuPy has no {bound} kernels")
    return bound


def _prepare(params, args, t: str, shape):
    """C declarations, bindings and ctypes arguments of the in-params."""
    decls, binds, call, keep = [], [], [], []
    for (ctype, name), a in zip(params, args):
        dtype = t if ctype == "T" else ctype
        if isinstance(a, np.ndarray) and a.ndim:
            buf = np.ascontiguousarray(np.broadcast_to(np.asarray(a, dtype=dtype), shape))
            keep.append(buf)
            decls.append(f"const {_C[dtype]}* _raw_{name}")
            binds.append(f"const {_C[dtype]} &{name} = _raw_{name}[i];")
            call.append(buf.ctypes.data_as(ctypes.c_void_p))
        else:
            decls.append(f"const {_C[dtype]} {name}")
            call.append(_CT[dtype](np.asarray(a, dtype=dtype).item()))
    return decls, binds, call, keep


class ElementwiseKernel:
    """``cupy.ElementwiseKernel`` run on the host."""

    def __init__(self, in_params, out_params, operation, name="kernel", preamble="",
                 options=(), no_return=False, **kwargs):  # fmt: skip
        self.ins, self.outs = _params(in_params), _params(out_params)
        self.operation, self.name, self.preamble = operation, name, preamble
        self.calls = 0

    def __call__(self, *args, block_size=128):
        n_in = len(self.ins)
        if len(args) != n_in + len(self.outs):
            raise TypeError(f"{self.name}: expected {n_in + len(self.outs)} arguments")
        ins, outs = args[:n_in], args[n_in:]
        if not all(isinstance(o, np.ndarray) for o in outs):
            raise TypeError("Output arguments must be cupy.ndarray")
        t = _bind_types(self.ins + self.outs, args)
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        if any(tuple(o.shape) != shape for o in outs):
            raise ValueError("Out shape is mismatched")
        self.calls += 1
        if 0 in shape:
            return None
        decls, binds, call, _keep = _prepare(self.ins, ins, t, shape)
        buffers = []
        for (ctype, name), o in zip(self.outs, outs):
            dtype = t if ctype == "T" else ctype
            buf = np.array(o, dtype=dtype, order="C")
            buffers.append(buf)
            decls.append(f"{_C[dtype]}* _raw_{name}")
            binds.append(f"{_C[dtype]} &{name} = _raw_{name}[i];")
            call.append(buf.ctypes.data_as(ctypes.c_void_p))
        source = "\n".join([
            _HEAD, f"typedef {_C[t]} T;", self.preamble,
            f'extern "C" void run({", ".join([*decls, "long long n"])}) {{',
            "  for (long long i = 0; i < n; ++i) {", *binds, self.operation + ";", "  }", "}",
        ])  # fmt: skip
        build_host_library(source).run(*call, ctypes.c_longlong(int(np.prod(shape))))
        for o, b in zip(outs, buffers):
            o[...] = b
        return None


class ReductionKernel:
    """``cupy.ReductionKernel`` (a sum or count of a mapped term) run on the host."""

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr,
                 identity, name="reduce_kernel", reduce_type=None, preamble="",
                 options=(), **kwargs):  # fmt: skip
        self.ins = _params(in_params)
        ((self.out_type, self.out_name),) = _params(out_params)
        self.map_expr, self.name, self.preamble = map_expr, name, preamble
        self.reduce_type = reduce_type or _C[self.out_type]
        if reduce_expr != "a + b" or post_map_expr != f"{self.out_name} = a":
            raise NotImplementedError("the host stand-in reduces by summation only")

    def __call__(self, *args, axis=None):
        t = _bind_types(self.ins, args)
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        acc = np.int64 if self.out_type == "int64" else np.float64
        terms = np.zeros(shape, dtype=acc)
        if terms.size:
            decls, binds, call, _keep = _prepare(self.ins, args, t, shape)
            decls.append(f"{self.reduce_type}* _raw_out")
            call.append(terms.ctypes.data_as(ctypes.c_void_p))
            source = "\n".join([
                _HEAD, f"typedef {_C[t]} T;", self.preamble,
                f'extern "C" void run({", ".join([*decls, "long long n"])}) {{',
                "  for (long long i = 0; i < n; ++i) {", *binds,
                f"    _raw_out[i] = {self.map_expr};", "  }", "}",
            ])  # fmt: skip
            build_host_library(source).run(*call, ctypes.c_longlong(terms.size))
        return asarray(terms.sum(axis=axis, dtype=acc))


def fake_cupy_module() -> types.ModuleType:
    """A module named ``cupy`` whose arrays are NumPy arrays and whose kernels run on
    the host."""
    mod = types.ModuleType("cupy")
    mod.__spec__ = importlib.machinery.ModuleSpec("cupy", None)
    mod.__version__ = "host-stand-in"
    mod.ElementwiseKernel = ElementwiseKernel
    mod.ReductionKernel = ReductionKernel
    mod.ndarray = ndarray
    mod.asarray = asarray
    mod.array = array
    mod.asnumpy = lambda a: np.array(a, copy=True).view(np.ndarray)
    for name in ("float16", "float32", "float64", "int64", "zeros", "ones", "empty"):
        setattr(mod, name, getattr(np, name))
    return mod
