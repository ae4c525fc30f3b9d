"""What this machine can run: backends and peers, install hints, GPUs.

Backend names used by the benchmarks: the optkit backends (``numpy``, ``numba``,
``cupy``), torch peers (``torch-fused`` / ``torch-foreach`` for optimizers and
``torch`` for the other kernels on the CPU; ``torch-cuda-fused`` / ``torch-cuda`` on
a GPU; ``torch-loop``: one torch optimizer per problem) and rooflines (``roofline``,
a Numba loop with the kernel's memory traffic; ``roofline-cuda``, its CuPy twin).
"""

from __future__ import annotations

import functools
import importlib.util
import shutil
import subprocess
from typing import Any

__all__ = [
    "backend_reason",
    "gpu_lines",
    "install_hint",
    "is_gpu",
    "peer_of",
    "require",
    "roofline_of",
]

#: What to install for a missing library (printed by ``optkit info`` and ``optkit bench``).
INSTALL_HINTS = {
    "numba": "pip install numba",
    "cupy": "pip install 'optkit[cuda12]'  (CUDA 12 driver; 'optkit[cuda13]' for CUDA 13)",
    "torch": "pip install torch  (a benchmark peer, not a dependency)",
    "array_api": "pip install array-api-compat",
    "array-api-compat": "pip install array-api-compat",
    "matplotlib": "pip install 'optkit[plot]'",
}


def missing_message(backend: str) -> str:
    """'' when ``backend`` runs here, else why not and (if a package is missing) the
    pip command that brings it."""
    reason = backend_reason(backend)
    if "not installed" in reason and install_hint(backend):
        return f"{reason}; {install_hint(backend)}"
    if reason and is_gpu(backend):
        return f"{reason} (needs an NVIDIA GPU)"
    return reason


def require(backend: str) -> None:
    """Raise ``NotImplementedError`` (why, and what to install) unless ``backend`` runs
    here: how a benchmark says "skip this combination" (asv records it as skipped).

    Examples
    --------
    >>> require("numpy")
    """
    message = missing_message(backend)
    if message:
        raise NotImplementedError(message)


def install_hint(backend: str) -> str:
    """The pip command that brings ``backend`` (or the library it needs); '' if none.

    Examples
    --------
    >>> install_hint("cupy").split("  ")[0]
    "pip install 'optkit[cuda12]'"
    >>> install_hint("torch-fused").startswith("pip install torch")
    True
    """
    if backend.startswith("torch"):
        return INSTALL_HINTS["torch"]
    if backend in ("cupy", "roofline-cuda"):
        return INSTALL_HINTS["cupy"]
    if backend == "roofline":
        return INSTALL_HINTS["numba"]
    return INSTALL_HINTS.get(backend, "")


def is_gpu(backend: str) -> bool:
    """True for backends that run on a CUDA device (``cupy``, ``torch-cuda*``, ...)."""
    return backend == "cupy" or "cuda" in backend


def peer_of(backend: str, optimizer: bool = True) -> str:
    """The torch peer a backend is compared with on the same device.

    Examples
    --------
    >>> peer_of("numba"), peer_of("cupy"), peer_of("numba", optimizer=False)
    ('torch-fused', 'torch-cuda-fused', 'torch')
    """
    base = "torch-cuda" if is_gpu(backend) else "torch"
    return f"{base}-fused" if optimizer else base


def roofline_of(backend: str) -> str:
    """The roofline a backend is compared with (``roofline`` or ``roofline-cuda``)."""
    return "roofline-cuda" if is_gpu(backend) else "roofline"


def _missing(module: str) -> str:
    return "" if importlib.util.find_spec(module) else f"{module} is not installed"


@functools.cache
def _cupy_reason() -> str:
    from optkit._backend import backends

    entry = backends()["cupy"]
    return "" if entry["available"] else entry["reason"]


@functools.cache
def _torch_cuda_reason() -> str:
    reason = _missing("torch")
    if reason:
        return reason
    import torch

    return "" if torch.cuda.is_available() else "torch has no CUDA device"


def backend_reason(backend: str) -> str:
    """'' when ``backend`` can run here, else why not (the hint is separate).

    Examples
    --------
    >>> backend_reason("numpy")
    ''
    >>> backend_reason("no-such-backend")
    "unknown backend 'no-such-backend'"
    """
    if backend == "numpy":
        return ""
    if backend in ("numba", "roofline"):
        return _missing("numba")
    if backend in ("cupy", "roofline-cuda"):
        return _missing("cupy") or _cupy_reason()
    if backend.startswith("torch-cuda"):
        return _torch_cuda_reason()
    if backend in ("torch", "torch-fused", "torch-foreach", "torch-loop"):
        # torch peers run on as many threads as the Numba loops
        return _missing("torch") or _missing("numba")
    return f"unknown backend {backend!r}"


# ----------------------------------------------------------------------------- GPUs
def _gpus_from_cupy() -> list[dict[str, Any]] | None:
    if importlib.util.find_spec("cupy") is None:
        return None
    try:
        import cupy

        runtime = cupy.cuda.runtime
        count = runtime.getDeviceCount()
        driver, version = runtime.driverGetVersion(), runtime.runtimeGetVersion()
    except Exception:
        return None
    gpus = []
    for i in range(count):
        props = runtime.getDeviceProperties(i)
        name = props["name"]
        gpus.append(
            {
                "name": name.decode() if isinstance(name, bytes) else str(name),
                "memory": int(props["totalGlobalMem"]),
                "driver": _cuda_version(driver),
                "runtime": f"{_cuda_version(version)} (CuPy)",
            }
        )
    return gpus


def _gpus_from_torch() -> list[dict[str, Any]] | None:
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    gpus = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        gpus.append(
            {
                "name": props.name,
                "memory": int(props.total_memory),
                "driver": "-",
                "runtime": f"{torch.version.cuda} (torch)",
            }
        )
    return gpus


def _gpus_from_nvidia_smi() -> list[dict[str, Any]] | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    query = "--query-gpu=name,memory.total,driver_version"
    try:
        out = subprocess.run(
            [exe, query, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    gpus = []
    for line in filter(None, (s.strip() for s in out.splitlines())):
        name, mib, driver = (part.strip() for part in line.split(",")[:3])
        memory = int(float(mib)) * 2**20 if mib.replace(".", "").isdigit() else 0
        gpus.append({"name": name, "memory": memory, "driver": driver, "runtime": "-"})
    return gpus


def _cuda_version(code: int) -> str:
    """CUDA's integer version (12040) as text (12.4)."""
    return f"{code // 1000}.{code % 1000 // 10}" if code else "-"


def gpu_lines() -> list[str]:
    """One line per CUDA device (name, memory, driver, runtime), or why there is none.

    Asks CuPy, then torch, then ``nvidia-smi``.

    Examples
    --------
    >>> lines = gpu_lines()
    >>> lines[0].startswith("GPU 0:") or lines[0].startswith("no CUDA device")
    True
    """
    for probe in (_gpus_from_cupy, _gpus_from_torch, _gpus_from_nvidia_smi):
        gpus = probe()
        if gpus:
            return [
                f"GPU {i}: {g['name']}, {g['memory'] / 2**30:.1f} GiB, "
                f"driver {g['driver']}, runtime {g['runtime']}"
                for i, g in enumerate(gpus)
            ]
    return ["no CUDA device (asked CuPy, torch and nvidia-smi)"]
