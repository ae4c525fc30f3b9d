"""Adam step at 2^24 float32 parameters: Numba vs NumPy vs torch CPU vs a roofline.

Run ``python tools/bench_adam.py [--size 24] [--repeat 15]``. Every figure is a ratio
measured in this one process (PERFORMANCE.md): the roofline is a Numba loop with the
same memory traffic as Adam (read 4 arrays, write 3: "r4w3") and trivial math.
Targets: P1 (Numba Adam GB/s / r4w3 GB/s >= 0.85), P2 (Numba time / torch fused
time <= 1.0), P3 (NumPy time / Numba time >= 5), P5 (``opt.step`` at 4,096
parameters <= 10 us).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np

import optkit as ok


@numba.njit(parallel=True, error_model="numpy", cache=True)
def r4w3(p, g, m, v):
    """Roofline: read p, g, m, v; write p, m, v; one multiply-add each."""
    for i in numba.prange(p.shape[0]):
        gi = g[i]
        m[i] = m[i] + gi
        v[i] = v[i] + gi
        p[i] = p[i] + gi


def median_time(fn, repeat: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_step_overhead(n: int = 4096, repeat: int = 20000) -> float:
    """Median-of-batches seconds per ``opt.step`` for one small Numba Adam."""
    p = np.ones(n, np.float32)
    g = np.full(n, 0.1, np.float32)
    opt = ok.Adam(p, lr=1e-3, backend="numba")
    for _ in range(100):
        opt.step(g)
    batches = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(repeat // 7):
            opt.step(g)
        batches.append((time.perf_counter() - t0) / (repeat // 7))
    return statistics.median(batches)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=24, help="log2 of the parameter count")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    n = 1 << args.size
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32)
    nbytes = 28 * n  # read p, g, m, v; write p, m, v (float32)
    results = {}

    arrays = [p0.copy(), g, np.zeros(n, np.float32), np.zeros(n, np.float32)]
    results["r4w3 roofline (numba)"] = median_time(lambda: r4w3(*arrays), args.repeat)
    for backend in ("numba", "numpy"):
        p = p0.copy()
        opt = ok.Adam(p, lr=1e-3, backend=backend)
        results[f"optkit Adam ({backend})"] = median_time(
            lambda opt=opt: opt.step(g), args.repeat
        )
    try:
        import torch

        torch.set_num_threads(numba.get_num_threads())
        for flag in ("fused", "foreach"):
            tp = torch.from_numpy(p0.copy())
            tp.grad = torch.from_numpy(g)
            topt = torch.optim.Adam([tp], lr=1e-3, **{flag: True})
            results[f"torch Adam {flag}=True"] = median_time(topt.step, args.repeat)
    except ImportError:
        print("torch is not installed: no torch peer")

    roof = results["r4w3 roofline (numba)"]
    print(
        f"Adam step, {n:,} float32 parameters, {numba.get_num_threads()} threads; "
        f"median of {args.repeat}"
    )
    print(f"{'kernel':<28}{'ms':>9}{'GB/s':>9}{'of r4w3':>9}")
    for name, secs in results.items():
        print(f"{name:<28}{secs * 1e3:>9.2f}{nbytes / secs / 1e9:>9.2f}{roof / secs:>9.2f}")
    numba_t = results["optkit Adam (numba)"]
    overhead = bench_step_overhead()
    print()
    print(
        f"P1 Numba Adam / r4w3 (GB/s ratio)        {roof / numba_t:6.2f}   target >= 0.85"
    )
    if "torch Adam fused=True" in results:
        print(
            f"P2 Numba time / torch fused time          "
            f"{numba_t / results['torch Adam fused=True']:6.2f}   target <= 1.0"
        )
    print(
        f"P3 NumPy time / Numba time                "
        f"{results['optkit Adam (numpy)'] / numba_t:6.2f}   target >= 5"
    )
    print(f"P5 opt.step at 4,096 params (Numba), us   {overhead * 1e6:6.2f}   target <= 10")


if __name__ == "__main__":
    main()
