"""BatchNorm forward and backward (training mode): optkit backends vs torch CPU."""

from __future__ import annotations

import numpy as np

from .common import Quick, require, require_gpu, sync

SHAPES = {
    "(8192, 1024)": ((8192, 1024), 1),
    "(64, 64, 56, 56)": ((64, 64, 56, 56), 1),
    "(64, 56, 56, 64) channels-last": ((64, 56, 56, 64), -1),
}


class BatchNorm(Quick):
    """``time_forward``, ``time_forward_backward``, ``peakmem_forward_backward``."""

    params = (list(SHAPES), ["numpy", "numba", "cupy", "torch"])
    param_names = ["shape", "backend"]

    def setup(self, shape_name, backend):
        shape, axis = SHAPES[shape_name]
        rng = np.random.default_rng(0)
        x = rng.standard_normal(shape, dtype=np.float32) + 3.0
        dy = rng.standard_normal(shape, dtype=np.float32)
        channels = shape[axis]
        w, b = np.ones(channels, np.float32), np.zeros(channels, np.float32)
        rm, rv = np.zeros(channels, np.float32), np.ones(channels, np.float32)
        if backend == "torch":
            self._setup_torch(x, dy, w, b, rm, rv, axis)
        else:
            self._setup_optkit(x, dy, w, b, rm, rv, axis, backend)
        self.forward_backward()  # compile, allocate

    def _setup_optkit(self, x, dy, w, b, rm, rv, axis, backend):
        from optkit import batch_norm, batch_norm_backward

        if backend == "cupy":
            require_gpu()
            import cupy

            x, dy, w, b, rm, rv = (cupy.asarray(a) for a in (x, dy, w, b, rm, rv))
        else:
            require(backend)

        def forward():
            out = batch_norm(x, w, b, rm, rv, training=True, axis=axis, backend=backend)
            sync(backend)
            return out

        def forward_backward():
            _, cache = batch_norm(
                x, w, b, rm, rv, training=True, axis=axis, backend=backend
            )
            batch_norm_backward(dy, cache)
            sync(backend)

        self.forward, self.forward_backward = forward, forward_backward

    def _setup_torch(self, x, dy, w, b, rm, rv, axis):
        require("torch")
        import numba
        import torch

        torch.set_num_threads(numba.get_num_threads())
        F = torch.nn.functional
        tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
        if axis != 1:  # channels-last data as torch's channels_last memory format
            tx, tdy = tx.permute(0, 3, 1, 2), tdy.permute(0, 3, 1, 2)
        tx.requires_grad_(True)
        tw = torch.from_numpy(w).requires_grad_(True)
        tb = torch.from_numpy(b).requires_grad_(True)
        trm, trv = torch.from_numpy(rm), torch.from_numpy(rv)

        def forward():
            with torch.no_grad():
                return F.batch_norm(tx, trm, trv, tw, tb, training=True)

        def forward_backward():
            tx.grad = tw.grad = tb.grad = None
            F.batch_norm(tx, trm, trv, tw, tb, training=True).backward(tdy)

        self.forward, self.forward_backward = forward, forward_backward

    def time_forward(self, shape_name, backend):
        self.forward()

    def time_forward_backward(self, shape_name, backend):
        self.forward_backward()

    def peakmem_forward_backward(self, shape_name, backend):
        self.forward_backward()
