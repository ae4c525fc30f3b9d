"""Network training speed: optkit (Numba) vs torch CPU, with the same threads.

    python tools/bench_nn.py                 # step, non-matmul part, digits fit
    python tools/bench_nn.py --coretype      # the step under each OPENBLAS_CORETYPE
    python tools/bench_nn.py --threshold     # activation maps: serial vs parallel

Every configuration runs in its own process (torch's OpenMP threads, OpenBLAS's
threads and Numba's threads would otherwise wait on each other), with the
workloads of :mod:`optkit.nn.benchmark`; the figure is the median of ``--repeat``
timed calls after two warm-up calls. Ratios are optkit's time over torch's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROWS = [  # (label, workload, optkit backend, torch Adam variant)
    ("MLP step (fwd + bwd + Adam)", "mlp_step", "numba", "default"),
    ("MLP step, non-matmul part", "mlp_non_matmul", "numba", "default"),
    ("digits, 30 epochs (ok.fit vs loop)", "digits_fit", "numba", None),
]
CORETYPES = ["", "Haswell", "SkylakeX", "Zen", "Cooperlake"]


def time_one(workload: str, backend: str, variant: str | None, repeat: int) -> float:
    """Median seconds of one workload, in this process."""
    from optkit.nn import benchmark

    build = getattr(benchmark, workload)
    fn = build(backend) if variant is None else build(backend, variant)
    for _ in range(2 if workload != "digits_fit" else 1):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def in_subprocess(args: list[str], env: dict | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--one", *args],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def blas_info() -> str:
    """NumPy's BLAS (from ``numpy.show_config``) and the kernel OpenBLAS picked."""
    import numpy as np

    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    text = f"NumPy {np.__version__} BLAS: {config.get('name')} {config.get('version')}"
    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("internal_api") == "openblas"]
        if pools:  # one entry per loaded copy of OpenBLAS; NumPy's comes first
            text += f", kernel {pools[0].get('architecture')}, {pools[0]['num_threads']} threads"
    except ImportError:
        pass
    return text


def thread_env(threads: int | None) -> dict | None:
    """The environment for ``threads`` threads everywhere (None: inherit)."""
    if threads is None:
        return None
    env = dict(os.environ)
    for var in ("NUMBA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                "MKL_NUM_THREADS"):  # fmt: skip
        env[var] = str(threads)
    return env


PEERS = [("optkit", "numba"), ("optkit wq", "numba-workqueue"), ("torch", "torch"),
         ("torch fused", "torch")]  # fmt: skip


def table(repeat: int, rounds: int, threads: int | None, workloads: list[str]) -> None:
    """Each row: ``rounds`` rounds of one process per column; medians; ratios to torch."""
    env = thread_env(threads)
    info = in_subprocess(["mlp_non_matmul", "numba", "default", "1", "--blas"], env)
    print(info["blas"])
    print(f"threads: {info['threads']} (Numba; torch set to the same), {rounds} rounds; "
          f"'optkit wq': Numba's workqueue threading layer\n")  # fmt: skip
    print(f"{'workload':<36}" + "".join(f"{name:>13}" for name, _ in PEERS)
          + "   optkit/torch  wq/torch")  # fmt: skip
    for label, workload, _, variant in [r for r in ROWS if r[1] in workloads]:
        reps = "1" if workload == "digits_fit" else str(repeat)
        columns = [
            (n, b, "fused" if n == "torch fused" else (variant or "-")) for n, b in PEERS
        ]
        if variant is None:
            columns = [c for c in columns if c[0] != "torch fused"]
        times: dict[str, list[float]] = {name: [] for name, _, _ in columns}
        for _ in range(rounds):
            for name, backend, adam in columns:
                times[name].append(
                    in_subprocess([workload, backend, adam, reps], env)["seconds"]
                )
        med = {name: statistics.median(t) for name, t in times.items()}
        cells = "".join(
            f"{med[n] * 1e3:>11.2f}ms" if n in med else f"{'-':>13}" for n, _ in PEERS
        )
        print(f"{label:<36}{cells}{med['optkit'] / med['torch']:>15.2f}"
              f"{med['optkit wq'] / med['torch']:>10.2f}")  # fmt: skip


def coretypes(repeat: int) -> None:
    print("MLP step by OPENBLAS_CORETYPE (it affects NumPy's OpenBLAS, not torch's MKL)")
    for core in CORETYPES:
        env = dict(os.environ)
        env.pop("OPENBLAS_CORETYPE", None)
        if core:
            env["OPENBLAS_CORETYPE"] = core
        result = in_subprocess(["mlp_step", "numba", "default", str(repeat), "--blas"], env)
        torch = in_subprocess(["mlp_step", "torch", "default", str(repeat)], env)
        ratio = result["seconds"] / torch["seconds"]
        print(
            f"  {core or '(unset)':<11}{result['seconds'] * 1e3:8.2f} ms  torch "
            f"{torch['seconds'] * 1e3:8.2f} ms  ratio {ratio:5.2f}   {result['blas']}"
        )


def threshold() -> None:
    import numpy as np

    from optkit._backend import resolve_backend
    from optkit._exec import numba as core
    from optkit.nn._ops import activation_backward, activation_forward

    rng = np.random.default_rng(0)
    be = resolve_backend("numba", np.zeros(1, np.float32))
    print("ReLU forward + backward maps, float32: serial vs parallel loop (us)")
    for power in range(12, 21, 2):
        x = rng.standard_normal(1 << power, dtype=np.float32)
        rows = []
        for limit in (1 << 62, 0):  # the maps' serial/parallel switch: never, always
            core.REDUCE_THRESHOLD = limit
            y = activation_forward(be, "relu", x)
            activation_backward(be, "relu", x, y)
            times = []
            for _ in range(200):
                start = time.perf_counter()
                y = activation_forward(be, "relu", x)
                activation_backward(be, "relu", x, y)
                times.append(time.perf_counter() - start)
            rows.append(statistics.median(times) * 1e6)
        print(f"  2^{power:<3} serial {rows[0]:8.1f}   parallel {rows[1]:8.1f}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=20, help="timed calls per process")
    p.add_argument("--rounds", type=int, default=3, help="alternating process rounds")
    p.add_argument("--threads", type=int, default=None, help="threads for everything")
    p.add_argument(
        "--workloads", default="mlp_step,mlp_non_matmul,digits_fit", help="rows to run"
    )
    p.add_argument("--coretype", action="store_true")
    p.add_argument("--threshold", action="store_true")
    p.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    p.add_argument("--blas", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        workload, backend, variant, repeat = args.one[:4]
        seconds = time_one(
            workload, backend, None if variant == "-" else variant, int(repeat)
        )
        import numba

        result = {"seconds": seconds, "threads": numba.get_num_threads()}
        if args.blas:
            result["blas"] = blas_info()
        print(json.dumps(result))
    elif args.coretype:
        coretypes(args.repeat)
    elif args.threshold:
        threshold()
    else:
        table(args.repeat, args.rounds, args.threads, args.workloads.split(","))


if __name__ == "__main__":
    main()
