"""A host stand-in for the parts of CuPy that :mod:`optkit._exec.cupy` uses.

``ElementwiseKernel`` and ``ReductionKernel`` here take the same arguments as
CuPy's, and run the same C body compiled for the host by g++ (see ``_native``):
arrays are broadcast as CuPy broadcasts them, ``T`` is bound by the arrays' dtype
(outputs first, mismatches raise as in CuPy), scalars are passed by value as ``T``,
in-params are read as ``const T&`` and out-params written through ``T&``. This
lets CPU CI drive the CuPy executor's Python code (argument order, casting,
in-place writes, views, broadcast hyperparameters) without a GPU; the GPU suite
(``test_cupy.py``) checks the real thing.
"""

from __future__ import annotations

import ctypes
import types

import numpy as np
from _native import build_host_library

from optkit._exec.cuda_source import c_type

__all__ = ["HostElementwiseKernel", "HostReductionKernel", "fake_cupy_module"]


def _params(text: str) -> list[tuple[str, str]]:
    out = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        ctype, name = item.split()
        if ctype != "T":
            raise NotImplementedError(f"the host stand-in only supports T params: {item}")
        out.append((ctype, name))
    return out


def _is_array(x) -> bool:
    return isinstance(x, np.ndarray)


class HostElementwiseKernel:
    """``cupy.ElementwiseKernel`` run on the host (placeholder type ``T`` only)."""

    def __init__(self, in_params, out_params, operation, name="kernel", **kwargs):
        self.in_params, self.out_params = _params(in_params), _params(out_params)
        self.nin, self.nout = len(self.in_params), len(self.out_params)
        self.operation, self.name, self.kwargs = operation, name, kwargs
        self.calls = 0

    def _source(self, dtype, kinds) -> str:
        params, binds = [], []
        for (_, name), kind in zip(self.in_params + self.out_params, kinds):
            if kind == "scalar":
                params.append(f"const T {name}")
            elif kind == "out":
                params.append(f"T* _raw_{name}")
                binds.append(f"T &{name} = _raw_{name}[i];")
            else:
                params.append(f"const T* _raw_{name}")
                binds.append(f"const T &{name} = _raw_{name}[i];")
        body = "\n".join([*binds, self.operation + ";"])  # CuPy appends ";" too
        return (
            f"#include <math.h>\ntypedef {c_type(dtype)} T;\n"
            f'extern "C" void run({", ".join([*params, "long long n"])}) {{\n'
            f"  for (long long i = 0; i < n; ++i) {{\n{body}\n  }}\n}}\n"
        )

    def __call__(self, *args, block_size=128):
        if len(args) != self.nin + self.nout:
            raise TypeError(f"{self.name}: expected {self.nin + self.nout} arguments")
        ins, outs = args[: self.nin], args[self.nin :]
        if not all(_is_array(o) for o in outs):
            raise TypeError("Output arguments must be cupy.ndarray")
        dtype = outs[0].dtype
        arrays = [a for a in args if _is_array(a)]
        for a in arrays:
            if a.dtype != dtype:
                raise TypeError(f"Type is mismatched. {a.dtype} {dtype}")
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        if any(tuple(o.shape) != shape for o in outs):
            raise ValueError("Out shape is mismatched")
        self.calls += 1
        if 0 in shape:
            return None
        kinds = ["array" if _is_array(a) else "scalar" for a in ins] + ["out"] * self.nout
        lib = build_host_library(self._source(dtype, kinds))
        scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
        buffers = [np.array(o, order="C") for o in outs]
        keep, call = [], []
        for a, kind in zip(ins, kinds):
            if kind == "scalar":
                call.append(scalar(float(a)))
            else:
                b = np.ascontiguousarray(np.broadcast_to(a, shape))
                keep.append(b)
                call.append(b.ctypes.data_as(ctypes.c_void_p))
        call += [b.ctypes.data_as(ctypes.c_void_p) for b in buffers]
        lib.run(*call, ctypes.c_longlong(int(np.prod(shape))))
        for o, b in zip(outs, buffers):
            o[...] = b
        return None


class HostReductionKernel:
    """``cupy.ReductionKernel`` over a whole array (one ``T`` input, a bool output)."""

    def __init__(
        self,
        in_params,
        out_params,
        map_expr,
        reduce_expr,
        post_map_expr,
        identity,
        name="reduce_kernel",
        reduce_type=None,
        **kwargs,
    ):
        ((_, self.x),) = _params(in_params)
        self.out_type, self.y = out_params.split()
        self.map_expr, self.reduce_expr = map_expr, reduce_expr
        self.post_map_expr, self.identity = post_map_expr, identity
        self.reduce_type = reduce_type or self.out_type

    def __call__(self, x):
        if self.out_type != "bool":
            raise NotImplementedError("the host stand-in reduces to bool only")
        source = (
            f"#include <math.h>\ntypedef {c_type(x.dtype)} T;\n"
            f"typedef {self.reduce_type} R;\n"
            f'extern "C" bool run(const T* _raw_{self.x}, long long n) {{\n'
            f"  R a = {self.identity};\n"
            f"  for (long long i = 0; i < n; ++i) {{\n"
            f"    const T &{self.x} = _raw_{self.x}[i];\n"
            f"    R b = ({self.map_expr});\n"
            f"    a = ({self.reduce_expr});\n  }}\n"
            f"  bool {self.y};\n  {self.post_map_expr};\n  return {self.y};\n}}\n"
        )
        lib = build_host_library(source)
        lib.run.restype = ctypes.c_bool
        flat = np.ascontiguousarray(x).reshape(-1)
        return np.asarray(lib.run(flat.ctypes.data_as(ctypes.c_void_p), flat.size))


def fake_cupy_module() -> types.ModuleType:
    """A module named ``cupy`` whose arrays are NumPy arrays and whose kernels run
    on the host."""
    mod = types.ModuleType("cupy")
    mod.ElementwiseKernel = HostElementwiseKernel
    mod.ReductionKernel = HostReductionKernel
    mod.ndarray = np.ndarray
    mod.asarray = np.asarray
    mod.asnumpy = np.asarray
    return mod
