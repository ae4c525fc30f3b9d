"""Host overhead, many small tensors, cold start, and population runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optkit
from optkit.bench import workloads
from optkit.bench.steps import make_step

from .common import OPTIMIZER_BACKENDS, Settings

MANY_TENSOR_BACKENDS = ["numpy", "numba", "cupy", "torch-fused", "torch-foreach",
                        "torch-cuda-fused"]  # fmt: skip
POPULATION_BACKENDS = ["numpy", "numba", "cupy", "torch-loop"]


class SmallStepSetup:
    def setup(self, backend, optimizer):
        self.step = self.reuse(
            (backend, optimizer), lambda: make_step(optimizer, backend, 4096, "float32")
        )


class SmallStep(SmallStepSetup, Settings):
    """The whole ``opt.step`` call at 4,096 float32 parameters: host overhead."""

    params = (OPTIMIZER_BACKENDS, ["adam", "momentum"])
    param_names = ["backend", "optimizer"]

    def time_step(self, backend, optimizer):
        self.step()


class ManyTensorsSetup:
    def setup(self, backend):
        self.step = self.reuse(
            (backend,), lambda: workloads.many_tensors_step(backend, 200)
        )


class ManyTensors(ManyTensorsSetup, Settings):
    """Adam over 200 tensors of 4K-64K float32 elements: one FlatParams step (optkit)
    vs torch stepping the 200 tensors."""

    params = (MANY_TENSOR_BACKENDS,)
    param_names = ["backend"]

    def time_adam_step(self, backend):
        self.step()


class ColdStart:
    """``import optkit`` and the first Numba Adam step in a new process, with the
    on-disk kernel cache warm. The child process imports the same optkit as this
    one (asv drops ``PYTHONPATH``; ``ASV_PYTHONPATH`` may point at a checkout)."""

    timeout = 120
    code = (
        "import numpy as np, optkit as ok; p = np.ones(4096, np.float32); "
        "ok.Adam(p, lr=1e-3, backend='numba').step(np.ones(4096, np.float32))"
    )

    def setup(self):
        root = str(Path(optkit.__file__).resolve().parents[1])
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        self.env = {**os.environ, "PYTHONPATH": path}
        subprocess.run([sys.executable, "-c", self.code], check=True, env=self.env)  # warm

    def track_import_and_first_step_seconds(self):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", self.code],
            check=True,
            env={**self.env, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        return time.perf_counter() - t0

    track_import_and_first_step_seconds.unit = "seconds"


class PopulationSetup:
    def setup(self, backend, steps):
        # one run per sample (number = 1): setup runs once, asv_runner 0.3 or not
        self.run = workloads.population_run(backend, 1000, steps)


class Population(PopulationSetup):
    """1,000 stacked 2-D Rosenbrock problems with their own learning rates, 1,000 Adam
    steps with the gradient evaluated each step: one optkit optimizer with an array
    lr vs a Python loop over 1,000 torch optimizers (``torch-loop``)."""

    params = (POPULATION_BACKENDS, [1000])
    param_names = ["backend", "steps"]
    number = 1
    repeat = 1
    rounds = 1
    warmup_time = 0
    timeout = 600

    def time_population(self, backend, steps):
        self.run()
