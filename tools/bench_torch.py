"""ok.torch.Adam vs torch.optim.Adam(fused=True) on CPU tensors: per-step time ratios.

Run ``python tools/bench_torch.py [--rounds 7] [--log2-size 22]``. Two models of
2^22 float32 parameters: one flat buffer (one tensor), and 200 separate tensors
(torch fused steps them as they are; optkit after ``ok.torch.flatten_``, and as they
are for reference). The variants are timed in interleaved rounds (each round times
every variant once, ``optkit.benchmark.time_call``), and each ratio is the median of
the per-round ratios, so that load from other processes on a shared machine hits
both sides of a ratio alike. Targets: one buffer, ``nonfinite="propagate"``: optkit
<= 1.1x torch fused's time; 200 tensors flattened: >= 1.3x faster than torch fused.
"""

from __future__ import annotations

import argparse
import statistics

import numba
import torch

import optkit as ok
from optkit.benchmark import time_call


def tensors(count: int, total: int, seed: int = 0) -> list:
    """``count`` parameters holding ``total`` float32 values, with gradients."""
    g = torch.Generator().manual_seed(seed)
    sizes = [total // count] * count
    sizes[-1] += total - sum(sizes)
    params = [torch.nn.Parameter(torch.randn(n, generator=g)) for n in sizes]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * 1e-3
    return params


def flattened(count: int, total: int) -> list:
    model = torch.nn.ParameterList(tensors(count, total))
    ok.torch.flatten_(model)
    return list(model.parameters())


def variants(total: int) -> dict:
    return {
        "one buffer: torch fused": torch.optim.Adam(tensors(1, total), fused=True),
        "one buffer: optkit propagate": ok.torch.Adam(
            tensors(1, total), nonfinite="propagate"
        ),
        "one buffer: optkit raise": ok.torch.Adam(tensors(1, total)),
        "200 tensors: torch fused": torch.optim.Adam(tensors(200, total), fused=True),
        "200 tensors: torch foreach": torch.optim.Adam(tensors(200, total), foreach=True),
        "200 tensors: optkit, not flattened": ok.torch.Adam(
            tensors(200, total), nonfinite="propagate"
        ),
        "200 tensors: optkit flatten_ propagate": ok.torch.Adam(
            flattened(200, total), nonfinite="propagate"
        ),
        "200 tensors: optkit flatten_ raise": ok.torch.Adam(flattened(200, total)),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--log2-size", type=int, default=22)
    args = parser.parse_args(argv)
    torch.set_num_threads(numba.get_num_threads())
    total = 1 << args.log2_size
    opts = variants(total)
    times: dict[str, list[float]] = {k: [] for k in opts}
    for _ in range(args.rounds):
        for name, opt in opts.items():
            times[name].append(time_call(opt.step, min_time=0.2, repeat=1))
    print(f"Adam, {total:,} float32 parameters, {numba.get_num_threads()} threads, "
          f"{args.rounds} interleaved rounds; median per step")  # fmt: skip
    for name, ts in times.items():
        print(f"  {name:40s} {statistics.median(ts) * 1e3:8.2f} ms")

    def ratio(a: str, b: str) -> float:
        return statistics.median(x / y for x, y in zip(times[a], times[b]))

    one = ratio("one buffer: optkit propagate", "one buffer: torch fused")
    many = ratio("200 tensors: torch fused", "200 tensors: optkit flatten_ propagate")
    many_raise = ratio("200 tensors: torch fused", "200 tensors: optkit flatten_ raise")
    print(f"one buffer: optkit/torch fused time = {one:.2f}x (target <= 1.1x)")
    print(f"200 tensors: torch fused/optkit flattened = {many:.2f}x faster (target >= 1.3x)"
          f"; with nonfinite='raise' {many_raise:.2f}x")  # fmt: skip
    return {"one_buffer_ratio": one, "flattened_speedup": many}


if __name__ == "__main__":
    main()
