"""Workloads of the nn benchmarks, shared by the asv suite and ``tools/bench_nn.py``.

Each builder returns a zero-argument callable that runs the workload once, for
``backend`` ``"numpy"``/``"numba"`` (optkit) or ``"torch"`` (torch CPU, with
``torch.set_num_threads`` set to Numba's thread count so both use the same cores):

* :func:`mlp_step` — one training step (forward, backward, Adam) of a
  784-1024-1024-10 MLP with BatchNorm before each ReLU, batch 256, float32.
* :func:`mlp_non_matmul` — the same step with every matrix product taken out:
  the pre-activations are fixed arrays, so what runs is the bias additions and
  their gradients, BatchNorm forward and backward, the activations, the loss,
  and the Adam step over all 1.86 M parameters.
* :func:`digits_fit` — 30 epochs of a 64-256-256-10 ReLU MLP on the digits
  training split (batch 32, Adam): ``ok.fit`` against the equivalent torch loop.

torch's Adam is its default (``foreach``/``fused`` unset: the per-tensor loop on
CPU); ``torch_adam="fused"`` selects ``fused=True``.

Backend ``"numba-workqueue"`` is ``"numba"`` with Numba's ``workqueue`` threading
layer (set before Numba starts its threads, as ``NUMBA_THREADING_LAYER=workqueue``
would): its idle threads sleep instead of spinning, which matters when NumPy's
OpenBLAS threads share the same few cores (see the README's measurements).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np

__all__ = ["digits_fit", "mlp_non_matmul", "mlp_step"]

SIZES = (784, 1024, 1024, 10)
BATCH = 256


def _torch(threads: bool = True):
    import torch

    if threads:
        from optkit._exec.numba_threads import thread_count

        torch.set_num_threads(thread_count())
    return torch


def optkit_backend(backend: str) -> str:
    """The optkit backend name; ``"numba-workqueue"`` also selects that layer."""
    if backend != "numba-workqueue":
        return backend
    import numba

    try:
        layer = numba.threading_layer()  # raises before Numba starts its threads
    except ValueError:
        numba.config.THREADING_LAYER = "workqueue"
        return "numba"
    if layer != "workqueue":
        raise RuntimeError(f"Numba's threads already run the {layer!r} threading layer")
    return "numba"


def _batch(rng: np.random.Generator, sizes=SIZES, batch=BATCH):
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    return x, y


def _torch_adam(torch, params, variant: str):
    options = {"fused": True} if variant == "fused" else {}
    return torch.optim.Adam(params, lr=1e-3, **options)


def _torch_mlp(torch, sizes, batch_norm: bool):
    nn = torch.nn
    layers: list[Any] = []
    for a, b in pairwise(sizes[:-1]):
        layers += [nn.Linear(a, b), *([nn.BatchNorm1d(b)] if batch_norm else []), nn.ReLU()]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)


def mlp_step(backend: str, torch_adam: str = "default") -> Callable[[], None]:
    """One training step of the 784-1024-1024-10 BatchNorm MLP."""
    x, y = _batch(np.random.default_rng(0))
    if backend == "torch":
        torch = _torch()
        model = _torch_mlp(torch, SIZES, batch_norm=True)
        opt = _torch_adam(torch, model.parameters(), torch_adam)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        F = torch.nn.functional

        def step():
            opt.zero_grad()
            F.cross_entropy(model(tx), ty).backward()
            opt.step()

        return step
    import optkit as ok

    backend = optkit_backend(backend)
    x, y = _to_backend(backend, x, y)
    model = ok.nn.mlp(SIZES, batch_norm=True, seed=0, backend=backend)
    opt = ok.Adam(model.parameters(), lr=1e-3, backend=backend)
    sync = _sync(backend)

    def step():
        _, grads = model.loss_and_grad(ok.nn.cross_entropy, x, y)
        opt.step(grads)
        sync()

    return step


def _to_backend(backend: str, *arrays):
    if backend != "cupy":
        return arrays
    import cupy

    return tuple(cupy.asarray(a) for a in arrays)


def _sync(backend: str) -> Callable[[], None]:
    if backend != "cupy":
        return lambda: None
    import cupy

    return cupy.cuda.get_current_stream().synchronize


def mlp_non_matmul(backend: str, torch_adam: str = "default") -> Callable[[], None]:
    """The non-matmul part of :func:`mlp_step` (see the module docstring)."""
    rng = np.random.default_rng(0)
    _, y = _batch(rng)
    z = [rng.standard_normal((BATCH, w), dtype=np.float32) for w in SIZES[1:]]
    up = [rng.standard_normal((BATCH, w), dtype=np.float32) for w in SIZES[1:-1]]
    if backend == "torch":
        return _torch_non_matmul(z, up, y, torch_adam)
    import optkit as ok

    backend = optkit_backend(backend)
    y, *z = _to_backend(backend, y, *z)
    up = _to_backend(backend, *up)
    model = ok.nn.mlp(SIZES, batch_norm=True, seed=0, backend=backend)
    opt = ok.Adam(model.parameters(), lr=1e-3, backend=backend)
    grads = model.grads
    layers = model.layers
    linears = [layers[k] for k in ("0", "3", "6")]
    chains = [(layers["1"], layers["2"]), (layers["4"], layers["5"])]
    from optkit._host import namespace

    xp = namespace(y)
    sync = _sync(backend)

    def step():
        for i, (bn, act) in enumerate(chains):  # bias, BatchNorm, ReLU: forward
            act.forward(bn.forward(z[i] + linears[i].bias))
        logits = z[2] + linears[2].bias
        _, dlogits = ok.nn.cross_entropy(logits, y, grad=True)
        grads["6.bias"][...] = xp.sum(dlogits, axis=0)
        for i, (bn, act) in enumerate(chains):  # backward from a fixed upstream grad
            d = bn.backward(act.backward(up[i]))
            grads[f"{3 * i}.bias"][...] = xp.sum(d, axis=0)
        opt.step(grads)
        sync()

    return step


def _torch_non_matmul(z, up, y, torch_adam):
    torch = _torch()
    nn, F = torch.nn, torch.nn.functional
    model = _torch_mlp(torch, SIZES, batch_norm=True)
    opt = _torch_adam(torch, model.parameters(), torch_adam)
    linears = [model[0], model[3], model[6]]
    bns = [model[1], model[4]]
    tz = [torch.from_numpy(a) for a in z]
    tup = [torch.from_numpy(a) for a in up]
    ty = torch.from_numpy(y)
    weight_grads = [torch.randn_like(m.weight) for m in linears]
    del nn

    def step():
        opt.zero_grad()
        outs = [F.relu(bn(tz[i] + linears[i].bias)) for i, bn in enumerate(bns)]
        loss = F.cross_entropy(tz[2] + linears[2].bias, ty)
        torch.autograd.backward([loss, *outs], [None, *tup])
        for m, g in zip(linears, weight_grads):  # the matmul would have set these
            m.weight.grad = g
        opt.step()

    return step


def digits_fit(backend: str, epochs: int = 30, batch_size: int = 32) -> Callable[[], None]:
    """30 epochs of a 64-256-256-10 ReLU MLP on digits (Adam, lr 1e-3)."""
    import optkit as ok
    from optkit.nn.fit import batches

    ds = ok.datasets.digits(seed=0)
    sizes = (64, 256, 256, 10)
    if backend == "torch":
        torch = _torch()
        tx, ty = torch.from_numpy(ds.train.x), torch.from_numpy(ds.train.y)
        F = torch.nn.functional

        def run():
            torch.manual_seed(0)
            model = _torch_mlp(torch, sizes, batch_norm=False)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            rng = np.random.default_rng(0)
            for _ in range(epochs):
                model.train()
                for idx in batches(len(ty), batch_size, rng.permutation(len(ty))):
                    i = torch.from_numpy(idx)
                    opt.zero_grad()
                    F.cross_entropy(model(tx[i]), ty[i]).backward()
                    opt.step()

        return run

    backend = optkit_backend(backend)

    def run():
        model = ok.nn.mlp(sizes, seed=0, backend=backend)
        opt = ok.Adam(model.parameters(), lr=1e-3, backend=backend)
        ok.fit(model, opt, ds.train, epochs, batch_size, progress=False, seed=0)

    return run
