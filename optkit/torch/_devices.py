"""Zero-copy views of torch tensors for optkit's executors, and the checks on tensors.

A *bridge* turns a tensor into an array of the library an executor takes, sharing
the tensor's memory: NumPy on the CPU (``Tensor.numpy()`` of the detached tensor)
and CuPy on CUDA (DLPack, imported on the tensor's current stream). It also gives
the context in which kernels launch: nothing on the CPU; on CUDA, torch's current
stream of the device wrapped as a CuPy ``ExternalStream``, so that optkit's kernels
are ordered with the torch work around them and nothing synchronizes.

:data:`BRIDGES` maps a device type to its bridge; the CUDA bridge is created on
first use (it imports CuPy). Tests may install a bridge for another device type.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

__all__ = [
    "BRIDGES",
    "CpuBridge",
    "CudaBridge",
    "bridge_for",
    "check_grad",
    "check_param",
    "scalar_dtype",
    "span",
]

#: torch dtypes optkit's executors update (NumPy and CuPy have these three).
SUPPORTED = {torch.float16: "float16", torch.float32: "float32", torch.float64: "float64"}


def check_param(name: str, p: Any) -> None:
    """Raise ``TypeError`` naming ``name`` unless ``p`` is a tensor optkit can update."""
    if not isinstance(p, torch.Tensor):
        raise TypeError(f"parameter {name} is a {type(p).__name__}, not a torch.Tensor")
    if p.layout != torch.strided:
        raise TypeError(f"parameter {name} has layout {p.layout}: only dense tensors")
    if p.dtype == torch.bfloat16:
        raise TypeError(
            f"parameter {name} is bfloat16, which NumPy and CuPy cannot represent, so "
            f"optkit's kernels cannot update it in place; keep float32 master weights "
            f"(e.g. torch.autocast for bfloat16 compute) or use a torch.optim optimizer"
        )
    if p.dtype not in SUPPORTED:
        raise TypeError(
            f"parameter {name} has dtype {p.dtype}; optkit.torch updates float16, "
            f"float32 and float64 tensors"
        )
    if p.device.type not in ("cpu", "cuda") and p.device.type not in BRIDGES:
        raise TypeError(
            f"parameter {name} is on device {p.device}; optkit.torch runs on CPU "
            f"(NumPy/Numba) and CUDA (CuPy) tensors"
        )


def check_grad(name: str, p: Any, g: Any) -> None:
    """Raise naming ``name`` unless the gradient is a dense tensor matching ``p``."""
    if g.layout != torch.strided:
        raise TypeError(
            f"gradient of parameter {name} is sparse ({g.layout}); optkit.torch takes "
            f"dense gradients only (use torch.optim.SparseAdam, or an embedding with "
            f"sparse=False)"
        )
    if g.dtype != p.dtype or g.device != p.device or g.shape != p.shape:
        raise TypeError(
            f"gradient of parameter {name} is {g.dtype} {tuple(g.shape)} on {g.device}; "
            f"the parameter is {p.dtype} {tuple(p.shape)} on {p.device}"
        )


def scalar_dtype() -> torch.dtype:
    """The dtype torch keeps step counts (and NAdam's product) in: float64 when the
    default dtype is float64, else float32."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def span(tensors: list[Any]) -> Any | None:
    """One 1-D tensor over ``tensors`` when they lie end to end, in order, in one
    storage (each C-contiguous); else ``None``. Shares their memory."""
    if not tensors:
        return None
    first = tensors[0]
    storage = first.untyped_storage().data_ptr()
    offset = first.storage_offset()
    for t in tensors:
        if (
            t.dtype != first.dtype
            or not t.is_contiguous()
            or t.storage_offset() != offset
            or t.untyped_storage().data_ptr() != storage
        ):
            return None
        offset += t.numel()
    total = offset - first.storage_offset()
    return first.detach().as_strided((total,), (1,), first.storage_offset())


class CpuBridge:
    """CPU tensors as NumPy arrays (``Tensor.numpy()``: no copy)."""

    def array(self, t: Any) -> Any:
        """A NumPy array sharing ``t``'s memory."""
        return t.detach().numpy()

    def launch(self, device: Any) -> Any:
        """The context kernels run in (none on the CPU)."""
        return contextlib.nullcontext()

    def tensor(self, array: Any) -> Any:
        """A tensor sharing ``array``'s memory."""
        return torch.from_numpy(array)


class CudaBridge:
    """CUDA tensors as CuPy arrays through DLPack, on torch's current stream.

    Parameters
    ----------
    cupy : module, optional
        The CuPy module (imported when omitted).
    current_stream : callable, optional
        ``device -> raw stream pointer``; torch's current stream by default.
    """

    def __init__(self, cupy: Any = None, current_stream: Any = None):
        if cupy is None:
            try:
                import cupy
            except ImportError as exc:
                raise ImportError(
                    "CUDA tensors need CuPy: pip install 'optkit[cuda12]' (or cuda13)"
                ) from exc
        self.cupy = cupy
        self._current_stream = current_stream or _torch_stream

    @contextlib.contextmanager
    def launch(self, device: Any):
        """CuPy's device and current stream set to torch's current stream of
        ``device``: kernels launched inside are ordered with torch's work."""
        index = device.index if device.index is not None else 0
        cuda = self.cupy.cuda
        with cuda.Device(index):
            with cuda.ExternalStream(self._current_stream(device), index):
                yield

    def array(self, t: Any) -> Any:
        """A CuPy array sharing ``t``'s memory (DLPack; imported on the current
        stream, so no synchronization is needed)."""
        with self.launch(t.device):
            return self.cupy.from_dlpack(t.detach())

    def tensor(self, array: Any) -> Any:
        """A tensor sharing ``array``'s memory (DLPack)."""
        return torch.from_dlpack(array)


def _torch_stream(device: Any) -> int:
    return torch.cuda.current_stream(device).cuda_stream


#: device type -> bridge (the CUDA one is created on first use).
BRIDGES: dict[str, Any] = {"cpu": CpuBridge()}


def bridge_for(device: Any) -> Any:
    """The bridge of ``device``'s type."""
    bridge = BRIDGES.get(device.type)
    if bridge is None:
        if device.type != "cuda":
            raise TypeError(f"optkit.torch has no executor for device {device}")
        bridge = BRIDGES["cuda"] = CudaBridge()
    return bridge
