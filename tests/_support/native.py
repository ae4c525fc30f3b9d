"""Compile generated kernel sources without a GPU: NVRTC for CUDA, g++ for the host.

Shared by ``tests/test_cuda_source.py`` and the GPU check (``tools/gpu_check.sh``).
NVRTC is loaded with :mod:`ctypes` from the ``nvidia-cuda-nvrtc-cu12`` wheel
(``nvidia/cuda_nvrtc/lib/libnvrtc.so.12``), or from the system library path; the
host compiler is ``$CXX`` or ``g++``. Each loader returns ``None`` plus a reason
when the tool is missing, so that tests can skip with that reason.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from optkit._exec.cuda_source import host_loop_source, kernel_arguments

__all__ = [
    "SPECIAL",
    "CompileResult",
    "build_host_library",
    "host_compiler",
    "nvrtc",
    "nvrtc_compile",
    "random_hypers",
    "random_inputs",
    "run_host",
]

#: Compute capability of the target GPUs (H100/H200).
ARCH = "compute_90"


@dataclass(frozen=True)
class CompileResult:
    """Outcome of one NVRTC compilation."""

    ok: bool
    log: str
    ptx: str
    status: str = ""


def _wheel_nvrtc_paths() -> list[Path]:
    spec = importlib.util.find_spec("nvidia.cuda_nvrtc")
    if spec is None or not spec.submodule_search_locations:
        return []
    paths = []
    for folder in spec.submodule_search_locations:
        lib = Path(folder) / "lib"
        paths += sorted(lib.glob("libnvrtc.so*"), key=lambda p: ("alt" in p.name, p.name))
    return paths


_nvrtc_cache: list = []


def nvrtc() -> tuple[ctypes.CDLL | None, str]:
    """The NVRTC library (loaded once) and, when it is missing, why."""
    if _nvrtc_cache:
        return _nvrtc_cache[0]
    candidates = [str(p) for p in _wheel_nvrtc_paths()]
    system = ctypes.util.find_library("nvrtc")
    if system:
        candidates.append(system)
    result: tuple[ctypes.CDLL | None, str] = (
        None,
        "NVRTC not found: install the nvidia-cuda-nvrtc-cu12 wheel (pip install "
        "'.[test]') or put libnvrtc on the library path",
    )
    errors = []
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            errors.append(f"{path}: {exc}")
            continue
        lib.nvrtcGetErrorString.restype = ctypes.c_char_p
        result = (lib, "")
        break
    else:
        if errors:
            result = (None, "NVRTC could not be loaded: " + "; ".join(errors))
    _nvrtc_cache.append(result)
    return result


def _check(lib, status: int, what: str) -> None:
    if status != 0:
        message = lib.nvrtcGetErrorString(status).decode()
        raise RuntimeError(f"{what} failed: {message} ({status})")


def nvrtc_compile(source: str, name: str = "kernel.cu", options=()) -> CompileResult:
    """Compile CUDA C++ ``source`` to PTX for :data:`ARCH` with NVRTC.

    Raises ``RuntimeError`` when NVRTC is unavailable; a failed compilation is a
    result with ``ok=False`` and the compiler log.
    """
    lib, reason = nvrtc()
    if lib is None:
        raise RuntimeError(reason)
    prog = ctypes.c_void_p()
    _check(
        lib,
        lib.nvrtcCreateProgram(
            ctypes.byref(prog), source.encode(), name.encode(), 0, None, None
        ),
        "nvrtcCreateProgram",
    )
    try:
        opts = [f"--gpu-architecture={ARCH}".encode(), *(o.encode() for o in options)]
        array = (ctypes.c_char_p * len(opts))(*opts)
        status = lib.nvrtcCompileProgram(prog, len(opts), array)
        size = ctypes.c_size_t()
        _check(lib, lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size)), "log size")
        buf = ctypes.create_string_buffer(size.value)
        _check(lib, lib.nvrtcGetProgramLog(prog, buf), "nvrtcGetProgramLog")
        log = buf.value.decode(errors="replace")
        ptx = ""
        if status == 0:
            _check(lib, lib.nvrtcGetPTXSize(prog, ctypes.byref(size)), "PTX size")
            buf = ctypes.create_string_buffer(size.value)
            _check(lib, lib.nvrtcGetPTX(prog, buf), "nvrtcGetPTX")
            ptx = buf.value.decode(errors="replace")
        text = lib.nvrtcGetErrorString(status).decode()
        return CompileResult(status == 0, log, ptx, text)
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def host_compiler() -> tuple[str | None, str]:
    """The host C++ compiler (``$CXX``, else ``g++``) and, when missing, why."""
    name = os.environ.get("CXX", "g++")
    path = shutil.which(name)
    if path is None:
        return None, f"no host C++ compiler: {name!r} is not on PATH (set CXX)"
    return path, ""


#: Strict IEEE arithmetic, as the CUDA kernels use (no FMA contraction, no fast
#: math); x86-64 computes float in SSE registers, so float stays float.
HOST_FLAGS = ("-O2", "-shared", "-fPIC", "-ffp-contract=off", "-fno-fast-math")

_build_dir: list[Path] = []


def build_host_library(source: str) -> ctypes.CDLL:
    """Compile C++ ``source`` into a shared library and load it (cached by content).

    Raises ``RuntimeError`` with the compiler's output when compilation fails.
    """
    cxx, reason = host_compiler()
    if cxx is None:
        raise RuntimeError(reason)
    if not _build_dir:
        _build_dir.append(Path(tempfile.mkdtemp(prefix="optkit-native-")))
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    folder = _build_dir[0]
    lib_path = folder / f"k{digest}.so"
    if not lib_path.exists():
        src = folder / f"k{digest}.cpp"
        src.write_text(source)
        proc = subprocess.run(
            [cxx, *HOST_FLAGS, "-o", str(lib_path), str(src)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"{cxx} failed ({proc.returncode}):\n{proc.stderr}\n--- source ---\n{source}"
            )
    return ctypes.CDLL(str(lib_path))


# ----------------------------------------------------------------------- running
#: Values that every semantic check mixes into its inputs.
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0])


def random_inputs(rule, dtype, kind, seed, shape=(4, 33)):
    """``p, g, states`` for ``rule``; ``kind``: ``"abs"`` (non-negative states),
    ``"signed"``, or ``"special"`` (a quarter of every array replaced by values of
    :data:`SPECIAL`)."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for _ in range(2 + len(rule.state))]
    if kind == "abs":
        arrays[2:] = [np.abs(a) for a in arrays[2:]]
    if kind == "special":
        for a in arrays:
            hit = rng.random(shape) < 0.25
            a[hit] = rng.choice(SPECIAL, size=int(hit.sum()))
    p, g, *states = (a.astype(dtype) for a in arrays)
    return p, g, states


def random_hypers(rule, dtype, array_hypers, seed, rows=4):
    """Hyperparameters in (0.05, 0.95): NumPy scalars of ``dtype``, or ``(rows, 1)``
    arrays for the names in ``array_hypers``."""
    rng = np.random.default_rng(seed + 100)
    out = {}
    for h in rule.hypers:
        if h in array_hypers:
            out[h] = rng.uniform(0.05, 0.95, (rows, 1)).astype(dtype)
        else:
            out[h] = dtype(rng.uniform(0.05, 0.95))
    return out


def run_host(rule, dtype, array_hypers, p, g, states, hypers):
    """Run the rule's generated body compiled for the host on NumPy arrays.

    Returns new arrays ``(p, [states])``; the inputs are not modified. Array
    hyperparameters are broadcast to ``p``'s shape here, as CuPy's indexer does.
    """
    lib = build_host_library(host_loop_source(rule, dtype, array_hypers))
    scalar = ctypes.c_float if np.dtype(dtype) == np.float32 else ctypes.c_double
    outs = {
        "p": np.array(p, order="C"),
        **{s: np.array(a, order="C") for s, a in zip(rule.state, states)},
    }
    keep, args = [], []
    for name, _, kind in kernel_arguments(rule, array_hypers):
        if kind == "scalar":
            args.append(scalar(float(hypers[name])))
            continue
        if kind == "out":
            a = outs[name]
        elif name == "g":
            a = np.ascontiguousarray(g)
        else:
            a = np.ascontiguousarray(np.broadcast_to(hypers[name], p.shape))
        keep.append(a)
        args.append(a.ctypes.data_as(ctypes.c_void_p))
    lib.optkit_step(*args, ctypes.c_longlong(p.size))
    return outs["p"], [outs[s] for s in rule.state]
