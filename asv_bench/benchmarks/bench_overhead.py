"""Host overhead, many small tensors, cold start, and population runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np

from optkit import benchmark as okb

from .common import BACKENDS, Quick, require, sync


class SmallStep(Quick):
    """The whole ``opt.step`` call at 4,096 float32 parameters (target P5: <= 10 us)."""

    params = (["adam", "momentum"], BACKENDS)
    param_names = ["optimizer", "backend"]

    def setup(self, name, backend):
        self.step = okb.make_step(name, backend, 4096, np.float32)
        for _ in range(10):
            self.step()

    def time_step(self, name, backend):
        self.step()


def _tensor_sizes(count=200, seed=0):
    rng = np.random.default_rng(seed)
    return [int(s) for s in rng.integers(4096, 65537, size=count)]


class ManyTensors(Quick):
    """200 tensors of 4K-64K float32 elements: one FlatParams vs torch on 200 tensors
    (target P4: >= 1.5x faster than torch fused)."""

    params = (["numba", "numpy", "cupy", "torch-fused", "torch-foreach"],)
    param_names = ["backend"]

    def setup(self, backend):
        sizes = _tensor_sizes()
        rng = np.random.default_rng(1)
        arrays = {
            f"t{i}": rng.standard_normal(n).astype(np.float32) for i, n in enumerate(sizes)
        }
        if backend.startswith("torch"):
            require("torch")
            import torch

            tensors = [torch.from_numpy(a.copy()) for a in arrays.values()]
            for t in tensors:
                t.grad = torch.full_like(t, 0.01)
            flag = backend.split("-", 1)[1]
            self.opt = torch.optim.Adam(tensors, lr=1e-3, **{flag: True})
            self.step = self.opt.step
        else:
            import optkit as ok

            if backend == "cupy":
                from .common import require_gpu

                require_gpu()
                import cupy

                arrays = {k: cupy.asarray(v) for k, v in arrays.items()}
            flat = ok.FlatParams(arrays)
            grads = flat.zeros_like()
            for buffer in grads.buffers.values():
                buffer[...] = 0.01
            opt = ok.Adam(flat, lr=1e-3, backend=backend)

            def step():
                opt.step(grads)
                sync(backend)

            self.step = step
        self.step()

    def time_adam_step(self, backend):
        self.step()


class ColdStart:
    """``import optkit`` and the first Numba Adam step in a new process, with the
    on-disk kernel cache warm (target P8: <= 0.5 s)."""

    timeout = 120
    code = (
        "import numpy as np, optkit as ok; p = np.ones(4096, np.float32); "
        "ok.Adam(p, lr=1e-3, backend='numba').step(np.ones(4096, np.float32))"
    )

    def setup(self):
        require("numba")
        subprocess.run([sys.executable, "-c", self.code], check=True)  # warm the cache

    def track_import_and_first_step_seconds(self):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", self.code],
            check=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        return time.perf_counter() - t0

    track_import_and_first_step_seconds.unit = "seconds"


def _rosenbrock_grad(p):
    x, y = p[..., 0], p[..., 1]
    g = np.empty_like(p)
    g[..., 0] = -2 * (1 - x) - 400 * x * (y - x * x)
    g[..., 1] = 200 * (y - x * x)
    return g


class Population:
    """1,000 stacked 2-D Rosenbrock problems with their own learning rates, Adam,
    1,000 steps: one optkit optimizer with an array lr vs a Python loop over 1,000
    torch optimizers."""

    params = (["numba", "numpy", "torch-loop"],)
    param_names = ["backend"]
    number = 1
    repeat = 1
    rounds = 1
    warmup_time = 0
    timeout = 600
    problems, steps = 1000, 1000

    def setup(self, backend):
        rng = np.random.default_rng(0)
        self.start = rng.uniform(-1.5, 1.5, size=(self.problems, 2))
        self.lr = np.geomspace(1e-4, 1e-1, self.problems)[:, None]
        if backend == "torch-loop":
            require("torch")
        else:  # compile the array-hyperparameter kernels outside the timing
            import optkit as ok

            p = self.start.copy()
            ok.Adam(p, lr=self.lr, backend=backend).step(_rosenbrock_grad(p))

    def time_population(self, backend):
        if backend == "torch-loop":
            import torch

            params = [torch.tensor(row.copy()) for row in self.start]
            opts = [
                torch.optim.Adam([p], lr=float(lr[0])) for p, lr in zip(params, self.lr)
            ]
            for _ in range(self.steps):
                for p, opt in zip(params, opts):
                    p.grad = torch.from_numpy(_rosenbrock_grad(p.numpy()))
                    opt.step()
            return
        import optkit as ok

        p = self.start.copy()
        opt = ok.Adam(p, lr=self.lr, backend=backend)
        for _ in range(self.steps):
            opt.step(_rosenbrock_grad(p))
