"""Adam at 2^24 float32 parameters: Numba vs NumPy vs torch CPU vs a roofline.

Run ``python tools/bench_adam.py [--size 24] [--repeat 15]``. Every figure is a ratio
measured in this one process (PERFORMANCE.md): the roofline is a Numba loop with the
same memory traffic as Adam (read 4 arrays, write 3: "r4w3") and trivial math.
Targets: P1 (Numba Adam GB/s / r4w3 GB/s >= 0.85), P2 (Numba time / torch fused
time <= 1.0), P3 (NumPy time / Numba time >= 5), P5 (``opt.step`` at 4,096
parameters <= 10 us). optkit's default ``nonfinite="raise"`` reads the gradient
once more than torch (which checks nothing); the ``propagate`` rows show the step
with torch's semantics, and the difference is the cost of the check.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import numba
import numpy as np

import optkit as ok
from optkit.benchmark import bytes_per_step, make_step, median_time, roofline_step


def step_overhead(n: int = 4096, calls: int = 20000, nonfinite: str = "raise") -> float:
    """Median-of-batches seconds per ``opt.step`` for one small Numba Adam."""
    p = np.ones(n, np.float32)
    g = np.full(n, 0.1, np.float32)
    opt = ok.Adam(p, lr=1e-3, backend="numba", nonfinite=nonfinite)
    for _ in range(100):
        opt.step(g)
    batches = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(calls // 7):
            opt.step(g)
        batches.append((time.perf_counter() - t0) / (calls // 7))
    return statistics.median(batches)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=24, help="log2 of the parameter count")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    n = 1 << args.size
    nbytes = bytes_per_step("adam", n, 4)
    steps = {"r4w3 roofline (numba)": roofline_step("adam", n, np.float32)}
    for backend in ("numba", "numpy"):
        steps[f"optkit Adam ({backend})"] = make_step("adam", backend, n)
    p = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    g = np.full(n, 0.01, np.float32)
    opt = ok.Adam(p, lr=1e-3, backend="numba", nonfinite="propagate")
    steps["optkit Adam (numba, propagate)"] = functools.partial(opt.step, g)
    for peer in ("torch-fused", "torch-foreach"):
        try:
            steps[f"torch Adam {peer[6:]}=True"] = make_step("adam", peer, n)
        except NotImplementedError as exc:
            print(f"no {peer} peer: {exc}")
    results = {name: median_time(fn, args.repeat) for name, fn in steps.items()}

    roof = results["r4w3 roofline (numba)"]
    print(
        f"Adam step, {n:,} float32 parameters, {numba.get_num_threads()} threads; "
        f"median of {args.repeat}"
    )
    print(f"{'kernel':<32}{'ms':>9}{'GB/s':>9}{'of r4w3':>9}")
    for name, secs in results.items():
        print(f"{name:<32}{secs * 1e3:>9.2f}{nbytes / secs / 1e9:>9.2f}{roof / secs:>9.2f}")
    numba_t = results["optkit Adam (numba)"]
    lean_t = results["optkit Adam (numba, propagate)"]
    print()
    print(
        f"P1 Numba Adam / r4w3 (GB/s ratio)           {roof / numba_t:6.2f}  "
        f"(propagate {roof / lean_t:.2f})  target >= 0.85"
    )
    if "torch Adam fused=True" in results:
        fused = results["torch Adam fused=True"]
        print(
            f"P2 Numba time / torch fused time             {numba_t / fused:6.2f}  "
            f"(propagate {lean_t / fused:.2f})  target <= 1.0"
        )
    print(
        f"P3 NumPy time / Numba time                   "
        f"{results['optkit Adam (numpy)'] / numba_t:6.2f}  target >= 5"
    )
    print(
        f"P5 opt.step at 4,096 params (Numba), us      {step_overhead() * 1e6:6.2f}  "
        f"(propagate {step_overhead(nonfinite='propagate') * 1e6:.2f})  target <= 10"
    )
    print(
        f"non-finite check at this size: +{(numba_t - lean_t) / lean_t * 100:.0f}% "
        f"step time (ideal: +{4 / 28 * 100:.0f}%, one more read of g)"
    )


if __name__ == "__main__":
    main()
