"""Training a network: one MLP step (and its non-matmul part), and 30 epochs on digits.

Workloads from :mod:`optkit.nn.benchmark`: a 784-1024-1024-10 MLP with BatchNorm,
batch 256, float32, one step of forward, backward and Adam; the same step without
its matrix products; ``ok.fit`` on scikit-learn's digits against the equivalent
torch loop. torch runs on the CPU with Numba's thread count; ``torch-fused`` is
torch with ``Adam(fused=True)``; ``numba-workqueue`` is Numba with its
``workqueue`` threading layer (idle threads sleep rather than spin).
"""

from __future__ import annotations

from .common import Settings, require, require_gpu

BACKENDS = ["numpy", "numba", "numba-workqueue", "cupy", "torch", "torch-fused"]


def _check(backend: str) -> tuple[str, str]:
    """(backend for the builder, torch Adam variant); skip what cannot run here."""
    if backend == "cupy":
        require_gpu()
    elif backend.startswith("torch"):
        require("torch")
    elif backend.startswith("numba"):
        require("numba")
    if backend.startswith("torch"):
        return "torch", "fused" if backend == "torch-fused" else "default"
    return backend, "default"


class MLPStep(Settings):
    """``time_step``: forward + backward + Adam, or only the non-matmul part."""

    params = (BACKENDS, ["full step", "non-matmul"])
    param_names = ["backend", "part"]

    def setup(self, backend, part):
        from optkit.nn import benchmark

        name, adam = _check(backend)
        build = benchmark.mlp_step if part == "full step" else benchmark.mlp_non_matmul
        self.step = build(name, adam)
        self.step()  # compile, allocate, create the optimizer state

    def time_step(self, backend, part):
        self.step()


class DigitsFit(Settings):
    """``time_fit``: 30 epochs of a 64-256-256-10 MLP (batch 32, Adam) on digits."""

    params = (["numpy", "numba", "numba-workqueue", "torch"],)
    param_names = ["backend"]
    repeat = (1, 3, 60.0)

    def setup(self, backend):
        require("sklearn")
        from optkit.nn import benchmark

        name, _ = _check(backend)
        benchmark.digits_fit(name, epochs=1)()  # compile and load the data once
        self.run = benchmark.digits_fit(name)

    def time_fit(self, backend):
        self.run()
