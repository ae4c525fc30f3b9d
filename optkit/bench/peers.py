"""torch as a benchmark peer: the same work done by ``torch.optim`` / ``torch.nn``.

torch is never a dependency of optkit: every function here imports it when called
and runs it on as many threads as Numba uses, so CPU comparisons are like for like.
``device="cuda"`` runs the peer on the GPU (synchronized inside the callable).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "batch_norm_step",
    "clip_step",
    "layer_norm_step",
    "many_tensors_step",
    "optimizer_step",
    "torch_module",
]


def torch_module(device: str = "cpu") -> Any:
    """``torch``, with Numba's thread count (CPU) or a CUDA device checked."""
    import torch

    if device == "cpu":
        from optkit._exec.numba_threads import thread_count

        torch.set_num_threads(thread_count())
    elif not torch.cuda.is_available():
        raise NotImplementedError("torch has no CUDA device")
    return torch


def _tensor(torch: Any, array: np.ndarray, device: str) -> Any:
    return torch.from_numpy(np.ascontiguousarray(array).copy()).to(device)


def _synced(torch: Any, device: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    if device == "cpu":
        return fn

    def run():
        out = fn()
        torch.cuda.synchronize()
        return out

    return run


def optimizer_step(
    torch_name: str, kwargs: dict, flavor: str, p0: np.ndarray, g0: np.ndarray, device: str
) -> Callable[[], Any]:
    """``torch.optim.<torch_name>(**kwargs, <flavor>=True).step`` on one tensor."""
    torch = torch_module(device)
    tp = _tensor(torch, p0, device)
    tp.grad = _tensor(torch, g0, device)
    try:
        opt = getattr(torch.optim, torch_name)([tp], **kwargs, **{flavor: True})
        opt.step()
    except (RuntimeError, TypeError, ValueError) as exc:
        raise NotImplementedError(f"torch {torch_name}({flavor}=True): {exc}") from exc
    return _synced(torch, device, opt.step)


def many_tensors_step(
    arrays: Sequence[np.ndarray], flavor: str, device: str, lr: float = 1e-3
) -> Callable[[], Any]:
    """torch Adam (``fused`` or ``foreach``) over one tensor per array."""
    torch = torch_module(device)
    tensors = [_tensor(torch, a, device) for a in arrays]
    for t in tensors:
        t.grad = torch.full_like(t, 0.01)
    opt = torch.optim.Adam(tensors, lr=lr, **{flavor: True})
    return _synced(torch, device, opt.step)


def batch_norm_step(
    x: np.ndarray, dy: np.ndarray, axis: int, device: str, forward_only: bool = False
) -> Callable[[], Any]:
    """Training-mode ``F.batch_norm`` forward plus autograd backward.

    ``axis=-1`` (channels-last data, ``(N, H, W, C)``) runs as torch's
    ``channels_last`` memory format: the same bytes, viewed as ``(N, C, H, W)``.
    """
    torch = torch_module(device)
    functional = torch.nn.functional
    tx, tdy = _tensor(torch, x, device), _tensor(torch, dy, device)
    if axis not in (1, -1, x.ndim - 1) or (axis != 1 and x.ndim != 4):
        raise NotImplementedError(f"torch peer: axis={axis} on {x.ndim}-d data")
    if axis != 1:
        tx, tdy = tx.permute(0, 3, 1, 2), tdy.permute(0, 3, 1, 2)
    channels = tx.shape[1]
    tw = torch.ones(channels, dtype=tx.dtype, device=device, requires_grad=True)
    tb = torch.zeros(channels, dtype=tx.dtype, device=device, requires_grad=True)
    rm = torch.zeros(channels, dtype=tx.dtype, device=device)
    rv = torch.ones(channels, dtype=tx.dtype, device=device)
    tx.requires_grad_(not forward_only)

    def forward():
        with torch.no_grad():
            return functional.batch_norm(tx, rm, rv, tw, tb, training=True)

    def forward_backward():
        tx.grad = tw.grad = tb.grad = None
        functional.batch_norm(tx, rm, rv, tw, tb, training=True).backward(tdy)

    return _synced(torch, device, forward if forward_only else forward_backward)


def layer_norm_step(
    x: np.ndarray, dy: np.ndarray, normalized_shape: tuple[int, ...], device: str
) -> Callable[[], Any]:
    """``F.layer_norm`` forward plus autograd backward (weight and bias included)."""
    torch = torch_module(device)
    functional = torch.nn.functional
    tx = _tensor(torch, x, device).requires_grad_(True)
    tdy = _tensor(torch, dy, device)
    tw = torch.ones(normalized_shape, dtype=tx.dtype, device=device, requires_grad=True)
    tb = torch.zeros(normalized_shape, dtype=tx.dtype, device=device, requires_grad=True)

    def forward_backward():
        tx.grad = tw.grad = tb.grad = None
        functional.layer_norm(tx, normalized_shape, tw, tb, 1e-5).backward(tdy)

    return _synced(torch, device, forward_backward)


def clip_step(arrays: Sequence[np.ndarray], device: str, scale: bool) -> Callable[[], Any]:
    """``clip_grad_norm_`` over one tensor per array (see
    :func:`optkit.bench.workloads.shrinking_limit` for the protocol)."""
    from optkit.bench.workloads import shrinking_limit

    torch = torch_module(device)
    tensors = [_tensor(torch, a, device) for a in arrays]
    for t in tensors:
        t.grad = t.clone()

    def rescale(factor):
        for t in tensors:
            t.grad.mul_(factor)

    def clip(limit):
        torch.nn.utils.clip_grad_norm_(tensors, limit)

    return _synced(torch, device, shrinking_limit(clip, rescale, _norm(arrays), scale))


def _norm(arrays: Sequence[np.ndarray]) -> float:
    return float(
        np.sqrt(sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays))
    )
