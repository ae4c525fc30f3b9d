"""Compile generated kernel sources without a GPU: NVRTC for CUDA, g++ for the host.

Shared by the CUDA source tests and the host stand-in of CuPy (``fake_cupy.py``).
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

__all__ = ["CompileResult", "build_host_library", "host_compiler", "nvrtc", "nvrtc_compile"]

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
    try:  # find_spec raises when the parent package "nvidia" is absent
        spec = importlib.util.find_spec("nvidia.cuda_nvrtc")
    except ModuleNotFoundError:
        return []
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


def _build_folder() -> Path:
    """Compiled twins live beside optkit's kernel cache, named by their source's hash
    (content-addressed: a changed body is a new file), so reruns compile nothing."""
    root = os.environ.get("OPTKIT_CACHE_DIR")
    base = Path(root) if root else Path.home() / ".cache" / "optkit"
    folder = base / "host-twin"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


_loaded: dict[str, ctypes.CDLL] = {}


def build_host_library(source: str) -> ctypes.CDLL:
    """Compile C++ ``source`` into a shared library and load it (cached by content).

    Raises ``RuntimeError`` with the compiler's output when compilation fails.
    """
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    lib = _loaded.get(digest)
    if lib is not None:
        return lib
    cxx, reason = host_compiler()
    if cxx is None:
        raise RuntimeError(reason)
    folder = _build_folder()
    lib_path = folder / f"k{digest}.so"
    if not lib_path.exists():
        fd, tmp = tempfile.mkstemp(suffix=".cpp", dir=folder)
        with os.fdopen(fd, "w") as file:
            file.write(source)
        out = tmp[:-4] + ".so"
        proc = subprocess.run(
            [cxx, *HOST_FLAGS, "-o", out, tmp], capture_output=True, text=True, check=False
        )
        os.unlink(tmp)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{cxx} failed ({proc.returncode}):\n{proc.stderr}\n--- source ---\n{source}"
            )
        os.replace(out, lib_path)
    lib = _loaded[digest] = ctypes.CDLL(str(lib_path))
    return lib
