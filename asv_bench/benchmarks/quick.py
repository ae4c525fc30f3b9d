"""The quick subset: every kernel x backend at one size, in about two minutes.

Run it with ``asv run -b ^quick`` (see the README). Sizes: optimizer steps and
clipping at 1048576 = 2^20 float32 elements; BatchNorm (2048, 256), NCHW
(16, 32, 28, 28) and channels-last (16, 28, 28, 32); LayerNorm (2048, 512); Adam
over 200 tensors; 1,000 Rosenbrock problems for 10 steps. The performance targets
(``bench_ratios``, a minute more) are not in it: ``-b "^(quick|bench_ratios)"`` adds
them.
"""

from __future__ import annotations

from . import bench_kernels as _kernels
from . import bench_optimizers as _optimizers
from . import bench_overhead as _overhead
from .common import KERNEL_BACKENDS, OPTIMIZER_BACKENDS, OPTIMIZERS, QuickSettings


class OptimizerStep(_optimizers.StepSetup, QuickSettings):
    """One step of every optimizer on every backend, 2^20 float32 parameters."""

    params = (OPTIMIZER_BACKENDS, OPTIMIZERS, [2**20], ["float32"])
    param_names = ["backend", "optimizer", "size", "dtype"]

    def time_step(self, backend, optimizer, size, dtype):
        self.step()


class BatchNorm(_kernels.BatchNormSetup, QuickSettings):
    """BatchNorm forward plus backward, both layouts, float32, small shapes."""

    shapes = {
        "(2048, 256)": ((2048, 256), 1),
        "(16, 32, 28, 28) NCHW": ((16, 32, 28, 28), 1),
        "(16, 28, 28, 32) channels-last": ((16, 28, 28, 32), -1),
    }
    params = (KERNEL_BACKENDS, list(shapes), ["float32"])
    param_names = ["backend", "shape", "dtype"]

    def time_forward_backward(self, backend, shape, dtype):
        self.forward_backward()


class LayerNorm(_kernels.LayerNormSetup, QuickSettings):
    """LayerNorm forward plus backward, (2048, 512) float32."""

    shapes = {"(2048, 512)": (2048, 512)}
    params = (KERNEL_BACKENDS, list(shapes), ["float32"])
    param_names = ["backend", "shape", "dtype"]

    def time_forward_backward(self, backend, shape, dtype):
        self.forward_backward()


class ClipByGlobalNorm(_kernels.ClipSetup, QuickSettings):
    """Global-norm clipping of 8 arrays, 2^20 float32 elements in all."""

    params = (KERNEL_BACKENDS, [2**20], ["float32"])
    param_names = ["backend", "size", "dtype"]

    def time_clip(self, backend, size, dtype):
        self.clip()


class SmallStep(_overhead.SmallStepSetup, QuickSettings):
    """The whole Adam ``opt.step`` at 4,096 float32 parameters."""

    params = (OPTIMIZER_BACKENDS, ["adam"])
    param_names = ["backend", "optimizer"]

    def time_step(self, backend, optimizer):
        self.step()


class ManyTensors(_overhead.ManyTensorsSetup, QuickSettings):
    """Adam over 200 tensors of 4K-64K float32: FlatParams vs torch on 200 tensors."""

    params = (_overhead.MANY_TENSOR_BACKENDS,)
    param_names = ["backend"]

    def time_adam_step(self, backend):
        self.step()


class Population(_overhead.PopulationSetup):
    """1,000 Rosenbrock problems, 10 Adam steps (optkit: one optimizer; torch: 1,000)."""

    params = (_overhead.POPULATION_BACKENDS, [10])
    param_names = ["backend", "steps"]
    number = 1
    repeat = 1
    rounds = 1
    warmup_time = 0
    timeout = 120

    def time_population(self, backend, steps):
        self.run()
