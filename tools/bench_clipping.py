"""Global-norm clipping at 2^24 float32: Numba vs NumPy vs torch ``clip_grad_norm_``.

Run ``python tools/bench_clipping.py [--size 24] [--repeat 15] [--threads N]``. Every figure is a
time ratio measured in this one process (PERFORMANCE.md), with torch on the same
number of threads as Numba. Two cases:

* ``norm only``: the gradient is under the limit, so clipping is one read pass;
* ``clip``: the gradient is over the limit on every call (the limit shrinks by 0.1 %
  each call), so clipping is a read pass plus a read-write scaling pass.

The roofline is a Numba read-only pass over the same bytes (a float32 sum with full
reassociation), so ``numba / roofline`` near 1 means the norm runs at memory speed.
"""

from __future__ import annotations

import argparse

import numba
import numpy as np

from optkit.benchmark import median_time
from optkit.clipping import clip_by_global_norm


@numba.njit(parallel=True, error_model="numpy", fastmath={"reassoc"}, cache=True)
def read_roofline(x):
    """Read every element once (float32 sum, any order)."""
    s = np.float32(0.0)
    for i in numba.prange(x.shape[0]):
        s += x[i]
    return s


def shrinking(clip, norm0: float):
    """A callable that clips with a limit 0.1 % below the previous one, each call."""
    state = {"limit": norm0}

    def call():
        state["limit"] *= 0.999
        clip(state["limit"])

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=24, help="log2 of the element count")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="default: all")
    args = parser.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    n = 1 << args.size
    threads = numba.get_num_threads()
    g = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    norm0 = float(np.linalg.norm(g.astype(np.float64)))
    times: dict[str, dict[str, float]] = {"norm only": {}, "clip": {}}

    times["norm only"]["roofline"] = median_time(lambda: read_roofline(g), args.repeat)
    for backend in ("numba", "numpy"):
        x = g.copy()
        times["norm only"][backend] = median_time(
            lambda x=x, b=backend: clip_by_global_norm(x, 2 * norm0, backend=b), args.repeat
        )
        x = g.copy()
        times["clip"][backend] = median_time(
            shrinking(
                lambda c, x=x, b=backend: clip_by_global_norm(x, c, backend=b), norm0
            ),
            args.repeat,
        )
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(threads)
        t = torch.zeros(n)
        t.grad = torch.from_numpy(g.copy())
        times["norm only"]["torch"] = median_time(
            lambda: torch.nn.utils.clip_grad_norm_([t], 2 * norm0), args.repeat
        )
        t.grad = torch.from_numpy(g.copy())
        times["clip"]["torch"] = median_time(
            shrinking(lambda c: torch.nn.utils.clip_grad_norm_([t], c), norm0), args.repeat
        )

    print(
        f"2^{args.size} float32, {threads} threads (numba and torch); median of {args.repeat}"
    )
    for case, row in times.items():
        print(f"\n{case}:")
        for name, seconds in row.items():
            print(f"  {name:<9}{seconds * 1e3:9.2f} ms")
        numba_time = row["numba"]
        print(f"  numpy / numba  = {row['numpy'] / numba_time:6.2f}x")
        if "torch" in row:
            print(f"  numba / torch  = {numba_time / row['torch']:6.2f}  (<= 1: faster)")
        if "roofline" in row:
            print(f"  numba / read roofline = {numba_time / row['roofline']:6.2f}")


if __name__ == "__main__":
    main()
