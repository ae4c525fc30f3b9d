"""Shared pieces of the sweep tests: specs, the in-process oracle, result checks."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest

import optkit as ok

ROOT = Path(__file__).resolve().parents[2]
VALUE_COLUMNS = ("final_loss", "best_loss", "auc", "steps_to", "diverged", "metric")


def adam_spec(**changes):
    """240 cells: Rosenbrock in 2 and 3 dimensions x 10 rates x 3 beta1 x 4 seeds,
    random starts (so the seeds matter), Adam's betas given by halves."""
    spec = {
        "name": "adam-rosenbrock",
        "problem": {"name": "rosenbrock", "dim": [2, 3]},
        "optimizer": "adam",
        "steps": 100,
        "seeds": 4,
        "x0": "random",
        "metric": "steps_to:1e-2",
        "batch_size": 16,
        "grid": {"lr": {"logspace": [-3, -0.5, 10]}, "betas[0]": [0.5, 0.8, 0.9]},
    }
    spec.update(changes)
    return spec


def reference(spec, alone: bool = True) -> dict[str, dict[str, float]]:
    """The cells computed in this process by ``ok.lab.run``: cell id -> values.

    ``alone``: every cell by itself (the bitwise claim); else one population per
    problem configuration (another batching, much faster). Per-run values are
    given as sequences (as the sweep gives them); ``betas`` as two sequences, the
    unswept half at Adam's default.
    """
    spec = ok.sweep.load_spec(spec)
    groups: dict[str, list] = {}
    for cell in ok.sweep.expand(spec):
        key = cell.id if alone else json.dumps(cell.problem, sort_keys=True)
        groups.setdefault(key, []).append(cell)
    expected = {}
    for cells in groups.values():
        expected.update(_population(spec, cells))
    return expected


def _population(spec, cells) -> dict[str, dict[str, float]]:
    kwargs = {}
    for key in cells[0].hyperparameters:
        values = [c.hyperparameters[key] for c in cells]
        kwargs[key] = values[0] if isinstance(values[0], bool) else values
    if any(key.startswith("betas[") for key in kwargs):
        halves = [
            kwargs.pop(f"betas[{i}]", [d] * len(cells)) for i, d in enumerate((0.9, 0.999))
        ]
        kwargs["betas"] = tuple(halves)
    problem = ok.problems.make(**cells[0].problem)
    trace = ok.lab.run(
        problem,
        spec.optimizer,
        spec.steps,
        x0=None if spec.x0 == "standard" else "random",
        seed=[c.seed for c in cells],
        stochastic=spec.stochastic,
        record=("loss",),
        every=spec.every,
        progress=False,
        nonfinite=spec.nonfinite,
        **kwargs,
    )
    expected = {}
    for k, cell in enumerate(cells):
        excess = trace["loss"][:, k] - (problem.f_star or 0.0)
        values = {
            "final_loss": trace.final()[k],
            "best_loss": trace.best()[k],
            "auc": _area(excess, trace.steps),
            "diverged": trace.diverged[k],
        }
        if spec.tol is not None:
            values["steps_to"] = trace.steps_to(spec.tol)[k]
            values["metric"] = values["steps_to"] if values["steps_to"] >= 0 else np.inf
        expected[cell.id] = values
    return expected


def _area(values, steps) -> float:
    """The trapezoidal mean, trapezoids added in step order (as documented)."""
    total = 0.0
    for i in range(1, len(steps)):
        total += float(steps[i] - steps[i - 1]) * (values[i] + values[i - 1]) / 2.0
    return total / steps[-1]


def assert_table_equals(table, expected) -> None:
    """Every expected cell exactly once, done, with bit-identical values."""
    assert table["cell"].is_unique
    assert sorted(table["cell"]) == sorted(expected)
    assert (table["status"] == "done").all(), table.loc[table["status"] != "done", "error"]
    for _, row in table.iterrows():
        for name, value in expected[row["cell"]].items():
            got = np.float64(row[name])
            assert got.tobytes() == np.float64(value).tobytes(), (
                name,
                row["cell"],
                got,
                value,
            )


def result_cells(out) -> list[str]:
    """Cell ids in every result file of ``out`` (duplicates kept)."""
    import pandas as pd

    files = sorted(Path(out, "results").glob("*.parquet"))
    return [c for f in files for c in pd.read_parquet(f, columns=["cell"])["cell"]]


def executions(log) -> list[dict]:
    """The batch executions recorded in an ``OPTKIT_SWEEP_EXECUTION_LOG`` file."""
    if not os.path.exists(log):
        return []
    with open(log) as file:
        return [json.loads(line) for line in file if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(**extra) -> dict[str, str]:
    """The environment of child processes: this checkout first on PYTHONPATH."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([path] if path else [])])
    env["NUMBA_NUM_THREADS"] = "1"
    env.update(extra)
    return env


needs_dask = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("distributed", "pandas", "pyarrow")),
    reason="needs the sweep extra: pip install 'optkit[sweep]'",
)


def set_log(client, path) -> None:
    """Point the running workers' execution log at ``path`` (None: off)."""

    def set_env(path=path):
        if path is None:
            os.environ.pop("OPTKIT_SWEEP_EXECUTION_LOG", None)
        else:
            os.environ["OPTKIT_SWEEP_EXECUTION_LOG"] = path

    client.run(set_env)


def local_cluster(workers: int = 2):
    """A LocalCluster of single-threaded worker processes and its client."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        env={"NUMBA_NUM_THREADS": "1"},
    )
    return cluster, Client(cluster)
