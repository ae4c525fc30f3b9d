"""How fast the lab is: the workloads of ``asv_bench/benchmarks/bench_lab.py``, and
``python -m optkit.lab.bench``, which measures them once and prints the ratios.

(a) 1,000 Rosenbrock (dim 2) runs x 1,000 Adam steps, each run with its own
learning rate and start: through :func:`optkit.lab.run` (problem evaluation,
non-finite check and the loss record included), the optimizer-only population
kernel (``opt.step`` on a fixed ``(1000, 2)`` gradient, nothing else), and 1,000
torch optimizers stepped in a Python loop, the gradient computed per run (timed on
fewer steps and scaled linearly: each torch step costs the same).

(b) ``quadratic(dim=10_000, kappa=1e4)``: ``record=("loss", "curvature")`` every
step against ``record=("loss",)``; the curvature record costs one Hessian-vector
product per recorded step (counted).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "hvps_per_record",
    "lab_population",
    "optimizer_only_population",
    "recording_run",
    "torch_loop_population",
]

RUNS, STEPS = 1000, 1000


def _require(backend: str) -> None:
    """Raise ``NotImplementedError`` (asv's "skip") when ``backend`` cannot run here."""
    module = {"numba": "numba", "cupy": "cupy", "torch-loop": "torch"}.get(backend)
    if module and importlib.util.find_spec(module) is None:
        raise NotImplementedError(f"{module} is not installed")
    if backend == "cupy":
        import optkit as ok

        info = ok.backends()["cupy"]
        if not info["available"]:
            raise NotImplementedError(info["reason"])


def _population(runs: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Starts in [-1.5, 1.5]² and learning rates log-spaced in [1e-4, 1e-1]."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.5, 1.5, size=(runs, 2)), np.geomspace(1e-4, 1e-1, runs)


def _sync(backend: str) -> Callable[[], None]:
    if backend != "cupy":
        return lambda: None
    import cupy

    return cupy.cuda.get_current_stream().synchronize


def lab_population(backend: str, runs: int = RUNS, steps: int = STEPS) -> Callable[[], Any]:
    """``ok.lab.run`` of the Rosenbrock population (loss recorded every step)."""
    _require(backend)
    import optkit as ok

    start, lr = _population(runs)
    if backend == "cupy":
        import cupy

        start = cupy.asarray(start)
    problem = ok.problems.rosenbrock(2)
    sync = _sync(backend)

    def call():
        trace = ok.lab.run(
            problem,
            "adam",
            steps,
            x0=start,
            lr=lr,
            backend=backend,
            record=("loss",),
            progress=False,
        )
        sync()
        return trace

    return call


def optimizer_only_population(
    backend: str, runs: int = RUNS, steps: int = STEPS
) -> Callable[[], Any]:
    """``steps`` calls of one Adam on the ``(runs, 2)`` population, fixed gradient."""
    _require(backend)
    import optkit as ok

    start, lr = _population(runs)
    grad = ok.problems.rosenbrock(2).grad(start)
    if backend == "cupy":
        import cupy

        start, grad = cupy.asarray(start), cupy.asarray(grad)
    p = start.copy()
    opt = ok.Adam(p, lr=lr[:, None], backend=backend)
    sync = _sync(backend)

    def call():
        for _ in range(steps):
            opt.step(grad)
        sync()

    return call


def torch_loop_population(runs: int = RUNS, steps: int = STEPS, *, with_problem=True):
    """``runs`` torch Adams, each on its own 2-element tensor, stepped in a loop.

    The Rosenbrock gradient of each run is written into its ``.grad`` with plain
    Python arithmetic (about 1 µs: the cheapest problem evaluation a loop can have),
    or left fixed with ``with_problem=False``.
    """
    _require("torch-loop")
    import torch

    start, lr = _population(runs)
    params = [torch.tensor(row) for row in start]
    for p in params:
        p.grad = torch.zeros_like(p)
    opts = [torch.optim.Adam([p], lr=float(r)) for p, r in zip(params, lr)]
    views = [(p.detach().numpy(), p.grad.numpy()) for p in params]

    def gradient(x, g):
        a, b = float(x[0]), float(x[1])
        t = b - a * a
        g[0] = -400.0 * a * t - 2.0 * (1.0 - a)
        g[1] = 200.0 * t

    for x, g in views:
        gradient(x, g)

    def call():
        for _ in range(steps):
            for opt, (x, g) in zip(opts, views):
                if with_problem:
                    gradient(x, g)
                opt.step()

    return call


def recording_run(backend: str, record: tuple[str, ...], steps: int = 100):
    """SGD on ``quadratic(dim=10_000, kappa=1e4)`` recording ``record`` every step."""
    _require(backend)
    import optkit as ok

    problem = ok.problems.quadratic(dim=10_000, kappa=1e4)
    x0 = problem.x0
    if backend == "cupy":
        import cupy

        x0 = cupy.asarray(x0)
    sync = _sync(backend)

    def call():
        trace = ok.lab.run(
            problem,
            "sgd",
            steps,
            x0=x0,
            lr=1e-4,
            record=record,
            backend=backend,
            progress=False,
        )
        sync()
        return trace

    return call


def hvps_per_record(record: tuple[str, ...], steps: int = 20) -> float:
    """Hessian-vector products spent per recorded step (NumPy backend)."""
    import optkit as ok

    problem = ok.problems.quadratic(dim=10_000, kappa=1e4)
    calls = []
    original = problem.hvp
    problem.hvp = lambda x, v: calls.append(1) or original(x, v)
    trace = ok.lab.run(problem, "sgd", steps, lr=1e-4, record=record, backend="numpy")
    return len(calls) / len(trace.steps)


def _median_seconds(call: Callable[[], Any], repeat: int) -> float:
    call()  # compile and warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Measure both workloads once and print the ratios."""
    parser = argparse.ArgumentParser(prog="python -m optkit.lab.bench", description=__doc__)
    parser.add_argument("--backend", default="numba", choices=["numba", "numpy", "cupy"])
    parser.add_argument(
        "--torch-steps",
        type=int,
        default=20,
        help="torch loop steps timed (scaled to 1,000; default 20)",
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    b = args.backend
    lab = _median_seconds(lab_population(b), args.repeat)
    kernel = _median_seconds(optimizer_only_population(b), args.repeat)
    print(f"(a) {RUNS} Rosenbrock runs x {STEPS} Adam steps, backend {b}")
    print(f"    ok.lab.run (problem + loss record): {lab * 1e3:9.1f} ms")
    print(f"    optimizer-only population kernel:   {kernel * 1e3:9.1f} ms")
    print(f"    lab.run / optimizer-only:            {lab / kernel:9.2f} x   (target <= 3)")
    if importlib.util.find_spec("torch") is not None:
        steps = args.torch_steps
        torch_s = _median_seconds(torch_loop_population(steps=steps), 1) * STEPS / steps
        print(
            f"    {RUNS} torch Adams in a Python loop:  {torch_s:9.1f} s  "
            f"(timed on {steps} steps, scaled)"
        )
        print(
            f"    torch loop / lab.run:                {torch_s / lab:9.0f} x   (target >= 100)"
        )
    else:
        print("    torch is not installed: no torch-loop figure")
    loss = _median_seconds(recording_run(b, ("loss",)), max(1, args.repeat // 2))
    curv = _median_seconds(
        recording_run(b, ("loss", "curvature")), max(1, args.repeat // 2)
    )
    print(f"(b) quadratic(dim=10_000, kappa=1e4), 100 SGD steps recorded every step, {b}")
    print(f"    record=('loss',):              {loss * 1e3:9.1f} ms")
    print(f"    record=('loss', 'curvature'):  {curv * 1e3:9.1f} ms  ({curv / loss:.2f} x)")
    print(
        f"    Hessian-vector products per record: "
        f"{hvps_per_record(('loss', 'curvature')):.0f} (curvature), "
        f"{hvps_per_record(('loss',)):.0f} (loss only)"
    )
    print("Timings from one process on a possibly shared machine: compare ratios.")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
