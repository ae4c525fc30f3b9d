"""Benchmark BatchNorm forward + backward: Numba vs torch CPU vs the NumPy reference.

Usage::

    python tools/bench_batch_norm.py                 # the shapes of target P6
    python tools/bench_batch_norm.py --threads 1 --rounds 30
    python tools/bench_batch_norm.py --threshold     # serial vs parallel, small sizes

Every case runs a training-mode forward (with running statistics) and backward in
float32. torch runs ``torch.nn.functional.batch_norm`` plus autograd with the same
number of threads as Numba; channels-last data uses torch's ``channels_last``
memory format. Contenders are timed **interleaved**, one call each per round, so
that a burst of load from another process hits all of them alike; the reported
ratio is the median over rounds of the per-round ratio (PERFORMANCE.md: absolute
numbers on this machine vary run to run, ratios measured in one process are what
count). "floor" is 4x a parallel Numba copy of x (read S, write S): the 8S of
traffic that forward (3S) plus backward (5S) cannot avoid.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
from optkit.kernels import batch_norm, batch_norm_backward
from optkit.kernels import batch_norm_numba as bn_numba

CASES = [
    ("(8192, 1024)", (8192, 1024), 1),
    ("(64, 64, 56, 56) NCHW", (64, 64, 56, 56), 1),
    ("(64, 56, 56, 64) channels-last", (64, 56, 56, 64), -1),
]


@numba.njit(parallel=True, error_model="numpy")
def _copy(src, dst):
    for i in numba.prange(src.shape[0]):
        dst[i] = src[i]


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(contenders: dict, rounds: int, warmup: int = 2) -> dict[str, list[float]]:
    """Per-round wall-clock seconds of each contender, called in turn every round."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            times[name].append(seconds(fn))
    return times


def optkit_step(x, dy, w, b, rm, rv, axis, backend):
    """One training forward + backward with optkit."""

    def run():
        _, cache = batch_norm(x, w, b, rm, rv, training=True, axis=axis, backend=backend)
        batch_norm_backward(dy, cache)

    return run


def torch_step(torch, x, dy, w, b, rm, rv, axis):
    """One training forward + backward with torch autograd (channels-last via strides)."""
    F = torch.nn.functional
    tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
    if axis != 1:  # NHWC data, as torch's channels_last memory format
        tx, tdy = tx.permute(0, 3, 1, 2), tdy.permute(0, 3, 1, 2)
    tx.requires_grad_(True)
    tw = torch.from_numpy(w.copy()).requires_grad_(True)
    tb = torch.from_numpy(b.copy()).requires_grad_(True)
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())

    def run():
        tx.grad = tw.grad = tb.grad = None
        y = F.batch_norm(tx, trm, trv, tw, tb, training=True, momentum=0.1, eps=1e-5)
        y.backward(tdy)

    return run


def bench_case(label, shape, axis, rounds, torch) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32) + 3.0
    dy = rng.standard_normal(shape, dtype=np.float32)
    channels = shape[axis]
    w = rng.standard_normal(channels, dtype=np.float32)
    b = rng.standard_normal(channels, dtype=np.float32)
    rm, rv = np.zeros(channels, np.float32), np.ones(channels, np.float32)
    flat, out = x.reshape(-1), np.empty(x.size, np.float32)
    contenders = {
        "numba": optkit_step(x, dy, w, b, rm, rv, axis, "numba"),
        "floor": lambda: [_copy(flat, out) for _ in range(4)],
    }
    if torch is not None:
        contenders["torch"] = torch_step(torch, x, dy, w, b, rm, rv, axis)
    times = interleaved(contenders, rounds)
    reference = interleaved(
        {"numpy": optkit_step(x, dy, w, b, rm, rv, axis, "numpy")}, max(3, rounds // 6), 1
    )["numpy"]
    numba_t = times["numba"]
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"{label}: median ms over {rounds} interleaved rounds")
    print(f"  numba {med['numba'] * 1e3:7.2f}   (numba/floor {med['numba'] / med['floor']:4.2f}, "
          f"floor {med['floor'] * 1e3:.2f})")  # fmt: skip
    t_ref = statistics.median(reference)
    print(f"  numpy {t_ref * 1e3:7.2f}   numba is {t_ref / med['numba']:5.1f}x faster")
    if torch is not None:
        ratio = statistics.median(t / n for t, n in zip(times["torch"], numba_t))
        print(f"  torch {med['torch'] * 1e3:7.2f}   numba is {ratio:5.2f}x faster "
              f"(median of per-round ratios; best vs best "
              f"{min(times['torch']) / min(numba_t):4.2f}x)")  # fmt: skip
    print(flush=True)


def bench_threshold(rounds: int) -> None:
    """Serial vs parallel fwd+bwd for small sizes (sets PARALLEL_THRESHOLD)."""
    rng = np.random.default_rng(0)
    saved = bn_numba.PARALLEL_THRESHOLD

    def with_threshold(threshold, step):
        def run():
            bn_numba.PARALLEL_THRESHOLD = threshold
            step()

        return run

    try:
        for size in (1 << 10, 1 << 12, 1 << 14, 1 << 15, 1 << 16, 1 << 18):
            x = rng.standard_normal((size // 64, 64), dtype=np.float32)
            step = optkit_step(x, x, None, None, None, None, 1, "numba")
            runs = {
                "serial": with_threshold(1 << 62, step),
                "parallel": with_threshold(0, step),
            }
            times = interleaved(runs, rounds * 10)
            med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
            print(f"{size:8d} elements: serial {med['serial']:8.1f} us, "
                  f"parallel {med['parallel']:8.1f} us")  # fmt: skip
    finally:
        bn_numba.PARALLEL_THRESHOLD = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=numba.get_num_threads())
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threshold", action="store_true")
    parser.add_argument("--no-torch", action="store_true")
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    torch = None
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            print("torch is not installed: comparing with the NumPy reference only")
    print(f"threads: {args.threads} (numba {numba.__version__}"
          + (f", torch {torch.__version__})" if torch is not None else ")"))  # fmt: skip
    if args.threshold:
        bench_threshold(args.rounds)
        return
    for label, shape, axis in CASES:
        bench_case(label, shape, axis, args.rounds, torch)


if __name__ == "__main__":
    main()
