"""How fast sweeps are: ``python -m optkit.sweep.bench`` measures once and prints the
ratios (the workloads of ``asv_bench/benchmarks/bench_sweep.py``).

(a) Population batching against one cell per Dask task: 2,000 cells (Rosenbrock,
dim 2, Adam, 100 steps, random starts: 40 learning rates x 50 seeds) on two
worker processes. Batched: :func:`optkit.sweep.run` end to end (batches planned,
run, each written as Parquet, the table read back). Per task: ``client.map`` of
the same worker function on one cell each, results gathered, nothing written (so
the baseline is spared the files the sweep writes).

(b) One worker against two (one thread each) on a CPU-bound sweep: 4,096 cells of
Rosenbrock in 200 dimensions, 300 Adam steps, batches of 256 cells.

(c) 100,000 tiny cells (Rosenbrock, dim 2, SGD, 10 steps): cells per second of
:func:`optkit.sweep.run` end to end on two workers.

Clusters are started, and every worker has compiled its kernels, before timing.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from typing import Any

__all__ = [
    "batched_seconds",
    "cluster",
    "per_task_seconds",
    "scaling_spec",
    "small_spec",
    "tiny_spec",
    "warm",
]


def small_spec(
    cells: int = 2000, steps: int = 100, backend: str = "auto"
) -> dict[str, Any]:
    """Workload (a): ``cells`` Rosenbrock cells, 40 learning rates x seeds."""
    return {
        "name": "bench-small",
        "problem": {"name": "rosenbrock", "dim": 2},
        "optimizer": "adam",
        "steps": steps,
        "seeds": max(1, cells // 40),
        "x0": "random",
        "backend": backend,
        "metric": "steps_to:1e-4",
        "grid": {"lr": {"logspace": [-3, -0.5, 40]}},
    }


def scaling_spec(cells: int = 4096, dim: int = 200, steps: int = 300) -> dict[str, Any]:
    """Workload (b): CPU-bound batches of 256 cells."""
    return {
        "name": "bench-scaling",
        "problem": {"name": "rosenbrock", "dim": dim},
        "optimizer": "adam",
        "steps": steps,
        "seeds": max(1, cells // 16),
        "x0": "random",
        "batch_size": 256,
        "grid": {"lr": {"logspace": [-3, -1, 16]}},
    }


def tiny_spec(cells: int = 100_000) -> dict[str, Any]:
    """Workload (c): ``cells`` cells of 10 SGD steps each."""
    return {
        "name": "bench-tiny",
        "problem": {"name": "rosenbrock", "dim": 2},
        "optimizer": "sgd",
        "steps": 10,
        "seeds": max(1, cells // 1000),
        "grid": {"lr": {"logspace": [-5, -2, min(cells, 1000)]}},
    }


@contextlib.contextmanager
def cluster(workers: int):
    """A LocalCluster of ``workers`` single-threaded processes (Numba: one thread)."""
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            env={"NUMBA_NUM_THREADS": "1"},
        ) as local,
        Client(local) as client,
    ):
        yield client


def warm(client, spec: dict[str, Any]) -> None:
    """Every worker compiles (or loads) the kernels of ``spec`` once."""
    from optkit import sweep
    from optkit.sweep.worker import run_batch

    small = {**spec, "seeds": 1, "grid": {k: [0.01] for k in spec["grid"]}}
    cells = [c.config() for c in sweep.expand(sweep.load_spec(small))]
    settings = sweep.load_spec(small).settings()
    for worker in client.scheduler_info()["workers"]:
        client.submit(run_batch, settings, cells, workers=[worker], pure=False).result()


def batched_seconds(client, spec: dict[str, Any]) -> tuple[float, int]:
    """Seconds of :func:`optkit.sweep.run` into a fresh folder, and the cell count."""
    from optkit import sweep

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        table = sweep.run(spec, out, client, progress=False)
        seconds = time.perf_counter() - start
    assert (table["status"] == "done").all()
    return seconds, len(table)


def per_task_seconds(client, spec: dict[str, Any]) -> tuple[float, int]:
    """Seconds to run every cell of ``spec`` as its own Dask task (results gathered)."""
    from distributed import wait

    from optkit import sweep
    from optkit.sweep.worker import run_batch

    loaded = sweep.load_spec(spec)
    settings, cells = loaded.settings(), sweep.expand(loaded)
    start = time.perf_counter()
    futures = client.map(
        run_batch, [settings] * len(cells), [[c.config()] for c in cells], pure=False
    )
    wait(futures)
    rows = sum(len(frame) for frame in client.gather(futures))
    seconds = time.perf_counter() - start
    assert rows == len(cells)
    return seconds, len(cells)


def _median_seconds(client, spec: dict[str, Any], repeats: int) -> tuple[float, int]:
    runs = [batched_seconds(client, spec) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), runs[0][1]


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Measure (a), (b) and (c); print the table and the ratios.

    The one-cell-per-task run is timed once (it is long); the rest are medians of
    ``--repeats`` runs, (b) alternating between the two clusters (both started
    first) so that both see the same load on a shared machine.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per median (3)")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    small, scaling = small_spec(2000 // scale), scaling_spec(4096 // scale)
    tiny = tiny_spec(100_000 // scale)
    with cluster(2) as two_workers, cluster(1) as one_worker:
        for client in (two_workers, one_worker):
            warm(client, small)
            warm(client, scaling)
        per_task, n = per_task_seconds(two_workers, small)
        batched, _ = _median_seconds(two_workers, small, args.repeats)
        one, two = [], []
        for _ in range(args.repeats):
            one.append(batched_seconds(one_worker, scaling)[0])
            two.append(batched_seconds(two_workers, scaling)[0])
        m = len(sweep_cells(scaling))
        tiny_seconds, t = _median_seconds(two_workers, tiny, args.repeats)
    one_s, two_s = statistics.median(one), statistics.median(two)
    results = {
        "per_task_cells_s": n / per_task,
        "batched_cells_s": n / batched,
        "batching_ratio": per_task / batched,
        "two_vs_one": one_s / two_s,
        "tiny_cells_s": t / tiny_seconds,
    }
    print(f"{'workload':<52} {'seconds':>8} {'cells/s':>10}")
    for name, seconds, cells in [
        (f"(a) {n} cells, one cell per Dask task", per_task, n),
        (f"(a) {n} cells, population batches (sweep.run)", batched, n),
        (f"(b) {m} CPU-bound cells, 1 worker", one_s, m),
        (f"(b) {m} CPU-bound cells, 2 workers", two_s, m),
        (f"(c) {t} tiny cells, 2 workers (sweep.run)", tiny_seconds, t),
    ]:
        print(f"{name:<52} {seconds:8.2f} {cells / seconds:10.0f}")
    print(f"(b) runs, 1 worker: {', '.join(f'{x:.2f}' for x in one)} s; "
          f"2 workers: {', '.join(f'{x:.2f}' for x in two)} s")  # fmt: skip
    print(f"batching: {results['batching_ratio']:.1f}x the cells/s of one cell per task "
          f"(target >= 20x)")  # fmt: skip
    print(f"2 workers: {results['two_vs_one']:.2f}x the throughput of 1 (target >= 1.7x)")
    return results


def sweep_cells(spec: dict[str, Any]) -> list:
    """The cells of ``spec``."""
    from optkit import sweep

    return sweep.expand(sweep.load_spec(spec))


if __name__ == "__main__":  # pragma: no cover
    main()
