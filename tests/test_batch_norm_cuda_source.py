"""The CuPy BatchNorm kernels' CUDA bodies, checked without a GPU.

:mod:`optkit.kernels._batch_norm_cuda` holds the bodies that
:mod:`optkit.kernels.batch_norm_cupy` turns into CuPy kernels. Here each body is
wrapped the way CuPy wraps it (a typedef for ``T``, one local per parameter) and

* compiled by NVRTC (``nvidia-cuda-nvrtc-cu12`` wheel) for float16, float32 and
  float64 — float16 as a stand-in class with the conversions of CuPy's ``float16``;
* compiled for the host by the system C++ compiler and run on NumPy data, to check
  what the bodies compute (float32, float64).

Each part skips when its compiler is missing.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import shutil
import subprocess

import numpy as np
import pytest

from optkit.kernels import _batch_norm_cuda as cuda

CTYPE = {"float16": "float16", "float32": "float", "float64": "double"}

# The conversions CuPy's float16 offers: implicit from float, explicit from double,
# implicit to float. The value is kept as a float: this is for compilation only.
FLOAT16_STANDIN = """
class float16 {
  float v_;
 public:
  __device__ float16() {}
  __device__ float16(float v) : v_(v) {}
  explicit __device__ float16(double v) : v_(static_cast<float>(v)) {}
  __device__ operator float() const { return v_; }
};
"""


def _params(spec: str) -> list[tuple[str, str]]:
    """``"T x, float64 m"`` -> ``[("T", "x"), ("double", "m")]``."""
    out = []
    for item in spec.split(","):
        kind, name = item.split()
        out.append(("T" if kind == "T" else {"float64": "double"}[kind], name))
    return out


def kernel_source(name: str, kind: str, host: bool) -> str:
    """One body wrapped as a CUDA kernel (or, for ``host``, a plain C loop)."""
    if kind == "reduction":
        inputs, body = cuda.REDUCTIONS[name]
        ins, outs = _params(inputs), [("double", "_mapped")]
        body = f"_mapped = ({body})"
    else:
        inputs, outputs, body = cuda.ELEMENTWISE[name]
        ins, outs = _params(inputs), _params(outputs)
    args = [f"const {t}* _{n}" for t, n in ins] + [f"{t}* _{n}" for t, n in outs]
    locals_ = [f"const {t} {n} = _{n}[i];" for t, n in ins]
    locals_ += [f"{t}& {n} = _{n}[i];" for t, n in outs]
    head = f'extern "C" {"" if host else "__global__ "}void {kind}_{name}'
    loop = (
        "for (long i = 0; i < n; ++i) {"
        if host
        else "long i = blockIdx.x * (long)blockDim.x + threadIdx.x; if (i < n) {"
    )
    return f"{head}({', '.join(args)}, long n) {{\n  {loop}\n    {' '.join(locals_)}\n    {body};\n  }}\n}}\n"


def all_kernels(host: bool) -> str:
    parts = [kernel_source(n, "reduction", host) for n in cuda.REDUCTIONS]
    parts += [kernel_source(n, "elementwise", host) for n in cuda.ELEMENTWISE]
    return "\n".join(parts)


# ----------------------------------------------------------------------------- NVRTC
def _nvrtc():
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        found = glob.glob(os.path.join(root, "cuda_nvrtc", "lib", "libnvrtc.so*"))
        found = [f for f in found if ".alt." not in f]
        if found:
            return ctypes.CDLL(found[0])
    return None


def nvrtc_compile(lib, source: str) -> tuple[int, str]:
    prog = ctypes.c_void_p()
    assert (
        lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"bn.cu", 0, None, None)
        == 0
    )
    opts = (ctypes.c_char_p * 2)(b"--gpu-architecture=compute_90", b"--std=c++17")
    status = lib.nvrtcCompileProgram(prog, 2, opts)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    return status, log.value.decode(errors="replace")


@pytest.mark.parametrize("dtype", sorted(CTYPE))
def test_kernel_bodies_compile_with_nvrtc(dtype):
    lib = _nvrtc()
    if lib is None:
        pytest.skip("NVRTC (nvidia-cuda-nvrtc-cu12) is not installed")
    standin = FLOAT16_STANDIN if dtype == "float16" else ""
    source = f"{standin}\ntypedef {CTYPE[dtype]} T;\n{cuda.PREAMBLE}\n{all_kernels(False)}"
    status, log = nvrtc_compile(lib, source)
    assert status == 0, f"NVRTC failed for T={dtype}:\n{log}\n{source}"


# ----------------------------------------------------------------------------- host C++
@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    compiler = shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        pytest.skip("no C++ compiler")
    libs = {}
    for dtype in ("float32", "float64"):
        folder = tmp_path_factory.mktemp(f"bn_{dtype}")
        src = folder / "bn.cpp"
        src.write_text(
            f"#define __device__\ntypedef {CTYPE[dtype]} T;\n{cuda.PREAMBLE}\n{all_kernels(True)}"
        )
        out = folder / "bn.so"
        cmd = [
            compiler,
            "-O1",
            "-ffp-contract=off",
            "-shared",
            "-fPIC",
            str(src),
            "-o",
            str(out),
        ]
        subprocess.run(cmd, check=True, capture_output=True)
        libs[dtype] = ctypes.CDLL(str(out))
    return libs


def _call(lib, name: str, *arrays) -> None:
    ptrs = [a.ctypes.data_as(ctypes.c_void_p) for a in arrays]
    getattr(lib, name)(*ptrs, ctypes.c_long(arrays[0].size))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kernel_bodies_compute_the_formulas(host_kernels, dtype):
    lib = host_kernels[dtype]
    rng = np.random.default_rng(0)
    n = 257
    x = (rng.standard_normal(n) * 3 + 100).astype(dtype)
    dy = rng.standard_normal(n).astype(dtype)
    m, a, b, e = (rng.standard_normal(n) for _ in range(4))
    wx, wdy = x.astype(np.float64), dy.astype(np.float64)
    mapped = np.empty(n)
    expected = {
        "reduction_sum": ((x,), wx),
        "reduction_sum_sq_dev": ((x, m), (wx - m) ** 2),
        "reduction_sum_dy_dev": ((dy, x, m), wdy * (wx - m)),
    }
    for name, (inputs, want) in expected.items():
        _call(lib, name, *inputs, mapped)
        np.testing.assert_allclose(mapped, want, rtol=1e-15, atol=0, err_msg=name)
    y = np.empty(n, dtype)
    _call(lib, "elementwise_affine", x, a, b, y)
    np.testing.assert_array_equal(y, (wx * a + b).astype(dtype))
    _call(lib, "elementwise_grad_input", dy, x, a, b, e, y)
    np.testing.assert_allclose(y, (a * wdy + b * wx + e).astype(dtype), rtol=2e-16, atol=0)
