"""The benchmarked kernels besides optimizer steps, as zero-argument callables.

Each function takes a ``backend``: an optkit backend (``numpy``, ``numba``, ``cupy``),
a torch peer (``torch``, ``torch-cuda``; for optimizers ``torch-fused``,
``torch-foreach``, ``torch-cuda-fused``) or a roofline (``roofline``,
``roofline-cuda``) with the kernel's least memory traffic. Only optkit's public API
is used, so the callables keep working while the kernels behind it change. A
combination that cannot run here raises ``NotImplementedError`` saying why (the asv
suite records it as skipped).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from optkit.bench.machine import require

__all__ = [
    "batch_norm_step",
    "clip_step",
    "layer_norm_step",
    "many_tensors_step",
    "population_run",
    "shrinking_limit",
    "tensor_sizes",
]


def _sync(backend: str) -> Callable[[], None]:
    if backend != "cupy":
        return lambda: None
    import cupy

    return cupy.cuda.get_current_stream().synchronize


def _to_device(backend: str, *arrays: Any) -> list[Any]:
    if backend != "cupy":
        return list(arrays)
    import cupy

    return [None if a is None else cupy.asarray(a) for a in arrays]


def _copies(backend: str, size: int, dtype: Any, passes: int) -> Callable[[], None]:
    """``passes`` copies of ``size`` elements: a normalization's roofline."""
    from optkit.bench import roofline

    if backend == "roofline-cuda":
        return roofline.cuda_copy_roofline(size, dtype, passes)
    return roofline.copy_roofline(size, dtype, passes)


def _normal_data(shape: tuple[int, ...], dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """x (mean 3, std 1) and dy (standard normal) of ``shape``."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(shape) + 3.0).astype(dtype)
    return x, rng.standard_normal(shape).astype(dtype)


def batch_norm_step(
    backend: str, shape: tuple[int, ...], axis: int, dtype: Any = "float32",
    forward_only: bool = False,
) -> Callable[[], Any]:  # fmt: skip
    """Training-mode BatchNorm forward (running statistics updated) plus backward.

    ``axis`` is the channel axis: ``1`` for ``(N, C)`` and NCHW data, ``-1`` for
    channels-last ``(N, H, W, C)``. The roofline is four parallel copies of ``x``
    (the ``8S`` bytes forward plus backward cannot avoid).
    """
    require(backend)
    dtype = np.dtype(dtype)
    size = int(np.prod(shape))
    if backend.startswith("roofline"):
        return _copies(backend, size, dtype, 2 if forward_only else 4)
    x, dy = _normal_data(shape, dtype)
    if backend.startswith("torch"):
        from optkit.bench import peers

        device = "cuda" if backend == "torch-cuda" else "cpu"
        return peers.batch_norm_step(x, dy, axis, device, forward_only)
    import optkit as ok

    channels = shape[axis]
    w, b = np.ones(channels, dtype), np.zeros(channels, dtype)
    rm, rv = np.zeros(channels, dtype), np.ones(channels, dtype)
    x, dy, w, b, rm, rv = _to_device(backend, x, dy, w, b, rm, rv)
    sync = _sync(backend)

    def forward():
        ok.batch_norm(x, w, b, rm, rv, training=True, axis=axis, backend=backend)
        sync()

    def forward_backward():
        _, cache = ok.batch_norm(x, w, b, rm, rv, training=True, axis=axis, backend=backend)
        ok.batch_norm_backward(dy, cache)
        sync()

    return forward if forward_only else forward_backward


def layer_norm_step(
    backend: str, shape: tuple[int, ...], dtype: Any = "float32"
) -> Callable[[], Any]:
    """LayerNorm over the last axis, forward plus backward, with weight and bias.

    Needs ``ok.layer_norm(x, normalized_shape, weight, bias, eps) -> (y, cache)`` and
    ``ok.layer_norm_backward(dy, cache)``; skipped (``NotImplementedError``) where
    this optkit has no LayerNorm.
    """
    import optkit as ok

    require(backend)
    if not hasattr(ok, "layer_norm") and not backend.startswith("torch"):
        raise NotImplementedError("this optkit has no ok.layer_norm")
    dtype = np.dtype(dtype)
    if backend.startswith("roofline"):
        return _copies(backend, int(np.prod(shape)), dtype, 4)
    x, dy = _normal_data(shape, dtype)
    normalized = (shape[-1],)
    if backend.startswith("torch"):
        from optkit.bench import peers

        return peers.layer_norm_step(
            x, dy, normalized, "cuda" if "cuda" in backend else "cpu"
        )
    w, b = np.ones(normalized, dtype), np.zeros(normalized, dtype)
    x, dy, w, b = _to_device(backend, x, dy, w, b)
    sync = _sync(backend)
    options = _backend_option(ok.layer_norm, backend)

    def forward_backward():
        _, cache = ok.layer_norm(x, normalized, w, b, 1e-5, **options)
        ok.layer_norm_backward(dy, cache)
        sync()

    return forward_backward


def _backend_option(function: Callable, backend: str) -> dict[str, str]:
    import inspect

    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        parameters = {}
    if "backend" in parameters:
        return {"backend": backend}
    if backend == "numpy":
        raise NotImplementedError(f"{function.__name__} takes no backend= argument")
    return {}


def shrinking_limit(
    clip: Callable[[float], Any], rescale: Callable[[float], Any], norm0: float, scale: bool
) -> Callable[[], None]:
    """Clipping calls under a fixed protocol, for optkit and torch alike.

    ``scale=False``: the limit is twice the norm, so a call only computes the norm.
    ``scale=True``: each call's limit is 0.1 % below the previous one, so every call
    computes the norm and scales; about every 4,600 calls the data are scaled back up
    (one extra pass) so that they never approach denormals.
    """
    state = {"limit": norm0}

    def shrink():
        state["limit"] *= 0.999
        if state["limit"] < 1e-2 * norm0:
            rescale(norm0 / state["limit"])
            state["limit"] = norm0
        clip(state["limit"])

    return shrink if scale else (lambda: clip(2.0 * norm0))


def clip_step(
    backend: str, size: int, dtype: Any = "float32", tensors: int = 8, scale: bool = True
) -> Callable[[], Any]:
    """Clip ``tensors`` arrays totalling ``size`` elements by their global norm.

    See :func:`shrinking_limit` for ``scale``. The roofline is one parallel read plus
    (``scale``) one in-place scaling pass over the same bytes.
    """
    require(backend)
    dtype = np.dtype(dtype)
    if backend.startswith("roofline"):
        from optkit.bench import roofline

        if backend.endswith("cuda"):
            return roofline.cuda_read_roofline(size, dtype, scale)
        return roofline.read_roofline(size, dtype, scale)
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(size // tensors).astype(dtype) for _ in range(tensors)]
    if backend.startswith("torch"):
        from optkit.bench import peers

        return peers.clip_step(arrays, "cuda" if "cuda" in backend else "cpu", scale)
    import optkit as ok
    from optkit.bench.peers import _norm

    norm0 = _norm(arrays)
    arrays = _to_device(backend, *arrays)
    sync = _sync(backend)

    def rescale(factor):
        for a in arrays:
            a *= factor

    def clip(limit):
        ok.clip_by_global_norm(arrays, limit, backend=backend)
        sync()

    return shrinking_limit(clip, rescale, norm0, scale)


def tensor_sizes(count: int = 200, seed: int = 0) -> list[int]:
    """``count`` tensor sizes between 4,096 and 65,536 elements (a model's layers)."""
    rng = np.random.default_rng(seed)
    return [int(s) for s in rng.integers(4096, 65537, size=count)]


def many_tensors_step(
    backend: str, count: int = 200, nonfinite: str = "raise"
) -> Callable[[], Any]:
    """Adam over ``count`` float32 tensors of 4K-64K elements: optkit steps one
    :class:`optkit.FlatParams`; torch peers step the ``count`` tensors."""
    require(backend)
    rng = np.random.default_rng(1)
    arrays = {f"t{i}": rng.standard_normal(n).astype(np.float32)
              for i, n in enumerate(tensor_sizes(count))}  # fmt: skip
    if backend.startswith("roofline"):
        raise NotImplementedError("no roofline for many tensors (see the one-tensor step)")
    if backend.startswith("torch"):
        from optkit.bench import peers

        flavor = backend.rsplit("-", 1)[1]
        device = "cuda" if "cuda" in backend else "cpu"
        return peers.many_tensors_step(list(arrays.values()), flavor, device)
    import optkit as ok

    values = _to_device(backend, *arrays.values())
    flat = ok.FlatParams(dict(zip(arrays, values)))
    grads = flat.zeros_like()
    for buffer in grads.buffers.values():
        buffer[...] = 0.01
    opt = ok.Adam(flat, lr=1e-3, backend=backend, nonfinite=nonfinite)
    sync = _sync(backend)

    def step():
        opt.step(grads)
        sync()

    return step


def _rosenbrock_grad(xp: Any, p: Any) -> Any:
    x, y = p[..., 0], p[..., 1]
    g = xp.empty_like(p)
    g[..., 0] = -2 * (1 - x) - 400 * x * (y - x * x)
    g[..., 1] = 200 * (y - x * x)
    return g


def population_run(backend: str, problems: int = 1000, steps: int = 1000) -> Callable:
    """``problems`` 2-D Rosenbrock problems with their own learning rates, ``steps``
    Adam steps with the gradient evaluated each step: one optkit optimizer with an
    array learning rate vs (``torch-loop``) one torch optimizer per problem."""
    require(backend)
    rng = np.random.default_rng(0)
    start = rng.uniform(-1.5, 1.5, size=(problems, 2))
    lr = np.geomspace(1e-4, 1e-1, problems)[:, None]
    if backend == "torch-loop":
        from optkit.bench.peers import torch_module

        torch = torch_module("cpu")

        def run_torch():
            params = [torch.tensor(row.copy()) for row in start]
            opts = [torch.optim.Adam([p], lr=float(r[0])) for p, r in zip(params, lr)]
            for _ in range(steps):
                for p, opt in zip(params, opts):
                    p.grad = torch.from_numpy(_rosenbrock_grad(np, p.numpy()))
                    opt.step()

        return run_torch
    if backend not in ("numpy", "numba", "cupy"):
        raise NotImplementedError(f"no population run on {backend!r}")
    import optkit as ok

    xp = np
    if backend == "cupy":
        import cupy as xp
    start_d, lr_d = _to_device(backend, start, lr)
    sync = _sync(backend)
    ok.Adam(xp.asarray(start_d).copy(), lr=lr_d, backend=backend).step(
        _rosenbrock_grad(xp, start_d)
    )  # compile the array-hyperparameter kernels outside the timing

    def run():
        p = start_d.copy()
        opt = ok.Adam(p, lr=lr_d, backend=backend)
        for _ in range(steps):
            opt.step(_rosenbrock_grad(xp, p))
        sync()

    return run
