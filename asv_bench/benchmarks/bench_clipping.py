"""Global-norm gradient clipping: optkit backends vs torch.nn.utils.clip_grad_norm_."""

from __future__ import annotations

import numpy as np

from .common import Quick, require, require_gpu, sync


class ClipByGlobalNorm(Quick):
    """One list of 8 arrays totalling ``size`` float32 elements, clipped to half its
    norm each call (so the scaling pass always runs)."""

    params = ([2**20, 2**24], ["numpy", "numba", "cupy", "torch"])
    param_names = ["size", "backend"]

    def setup(self, size, backend):
        rng = np.random.default_rng(0)
        arrays = [rng.standard_normal(size // 8, dtype=np.float32) for _ in range(8)]
        if backend == "torch":
            require("torch")
            import numba
            import torch

            torch.set_num_threads(numba.get_num_threads())
            tensors = [torch.from_numpy(a) for a in arrays]
            for t in tensors:
                t.grad = t.clone()

            def clip():
                norm = torch.nn.utils.clip_grad_norm_(tensors, 1.0)
                for t in tensors:  # keep the norm above the limit for the next call
                    t.grad.mul_(4.0)
                return norm
        else:
            import optkit as ok

            if backend == "cupy":
                require_gpu()
                import cupy

                arrays = [cupy.asarray(a) for a in arrays]
            else:
                require(backend)

            def clip():
                norm = ok.clip_by_global_norm(arrays, 1.0, backend=backend)
                for a in arrays:
                    a *= 4.0
                sync(backend)
                return norm

        self.clip = clip
        self.clip()

    def time_clip(self, size, backend):
        self.clip()
