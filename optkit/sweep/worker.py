"""What a Dask worker runs: one batch of cells as one population, rebuilt from the
spec's plain data (nothing is scattered), returned as a table of rows.

A batch that raises is cut in halves until the failing cells are alone: every
other cell still gets its result (a population gives each run the bits it would
get alone), and each failing cell is recorded as ``status="failed"`` with its
error.

Set ``OPTKIT_SWEEP_EXECUTION_LOG`` to a file path to have every batch execution
appended to it as one JSON line (batch id, cell ids, host, process id, time): an
audit of what was computed where, and how the tests count recomputations.
"""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import time
from typing import Any

import numpy as np

from optkit.sweep._catalog import canonical, hyperparameters

__all__ = ["RESERVED_COLUMNS", "failed_rows", "problem_column", "run_batch"]

#: Columns of the result table that problem parameters must not shadow.
RESERVED_COLUMNS = (
    "cell", "status", "error", "problem", "optimizer", "seed", "sample", "metric",
    "steps_to", "final_loss", "best_loss", "auc", "diverged", "steps", "wall_time",
    "batch_size", "backend", "optkit_version", "worker", "batch",
)  # fmt: skip
_PAIR = re.compile(r"^(\w+)\[(\d+)\]$")


def problem_column(param: str, catalog: dict[str, Any]) -> str:
    """The column of a problem parameter: its name, or ``problem.<name>`` when a
    hyperparameter or a result column has that name (``kappa``, ``seed``)."""
    return f"problem.{param}" if param in catalog or param in RESERVED_COLUMNS else param


@functools.lru_cache(maxsize=32)
def _problem(text: str):
    import optkit as ok

    return ok.problems.make(**json.loads(text))


def _log_execution(batch_id: str, cells: list[dict]) -> None:
    path = os.environ.get("OPTKIT_SWEEP_EXECUTION_LOG")
    if not path:
        return
    entry = {
        "batch": batch_id,
        "cells": [c["id"] for c in cells],
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "time": time.time(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode())
    finally:
        os.close(fd)


def population_arguments(optimizer: str, cells: list[dict]) -> dict[str, Any]:
    """``ok.lab.run`` keyword arguments for ``cells``: every hyperparameter that the
    spec sets as one value per run (pairs as two sequences, the missing half at its
    default), flags as they are (equal within a batch)."""
    catalog = hyperparameters(optimizer)
    kwargs: dict[str, Any] = {}
    pairs: dict[str, dict[int, list]] = {}
    for key, value in cells[0]["hyperparameters"].items():
        if isinstance(value, bool):
            kwargs[key] = value
            continue
        values = [c["hyperparameters"][key] for c in cells]
        match = _PAIR.match(key)
        if match:
            pairs.setdefault(match.group(1), {})[int(match.group(2))] = values
        else:
            kwargs[key] = values
    for name, parts in pairs.items():
        kwargs[name] = tuple(
            parts.get(i, [catalog[f"{name}[{i}]"]] * len(cells)) for i in range(2)
        )
    return kwargs


def _population(settings: dict[str, Any], cells: list[dict]):
    import optkit as ok

    backend = settings["backend"]
    return ok.lab.run(
        _problem(canonical(cells[0]["problem"])),
        settings["optimizer"],
        settings["steps"],
        x0=None if settings["x0"] == "standard" else "random",
        seed=[c["seed"] for c in cells],
        stochastic=settings["stochastic"],
        record=("loss",),
        every=settings["every"],
        progress=False,
        backend=None if backend == "auto" else backend,
        nonfinite=settings["nonfinite"],
        **population_arguments(settings["optimizer"], cells),
    )


def area(values: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Per run (column), the trapezoidal mean of ``values`` over the steps.

    The trapezoids are summed one after the other in step order (``cumsum``), not
    by NumPy's pairwise ``sum``, whose rounding depends on the array's layout: a
    run's area is then the same bits in any population.
    """
    widths = np.diff(steps).astype(np.float64)[:, None]
    trapezoids = widths * (values[1:] + values[:-1]) / 2.0
    if trapezoids.shape[0] == 0:
        return np.zeros(values.shape[1])
    return np.cumsum(trapezoids, axis=0)[-1] / max(int(steps[-1]), 1)


def metrics(trace, metric: str) -> dict[str, np.ndarray]:
    """Per run: ``final_loss``, ``best_loss``, ``auc`` (the mean over the run of
    ``loss - f_star``, or of the loss when ``f_star`` is unknown, by the trapezoidal
    rule on the records), ``steps_to`` for a ``steps_to:<tol>`` metric (-1: never),
    and ``metric``, the chosen one, lower is better (never reached or NaN: inf)."""
    with np.errstate(all="ignore"):
        loss = trace["loss"]
        excess = loss if trace.f_star is None else loss - trace.f_star
        out = {
            "final_loss": trace.final("loss"),
            "best_loss": trace.best("loss"),
            "auc": area(excess, trace.steps),
        }
        if metric.startswith("steps_to:"):
            out["steps_to"] = trace.steps_to(float(metric.split(":", 1)[1]))
            chosen = np.where(out["steps_to"] >= 0, out["steps_to"], np.inf)
        else:
            chosen = out[metric]
        out["metric"] = np.where(np.isnan(chosen), np.inf, chosen).astype(np.float64)
    return out


def _identity(settings: dict, cells: list[dict], catalog: dict) -> dict[str, Any]:
    """The columns that describe cells: problem and its parameters, optimizer, every
    hyperparameter (those the spec leaves out at their defaults), seed, sample."""
    import optkit as ok

    n = len(cells)
    columns: dict[str, Any] = {"cell": [c["id"] for c in cells]}
    columns["problem"] = [c["problem"]["name"] for c in cells]
    for param in cells[0]["problem"]:
        if param != "name":
            columns[problem_column(param, catalog)] = [c["problem"][param] for c in cells]
    columns["optimizer"] = [settings["optimizer"]] * n
    for key, default in catalog.items():
        columns[key] = [c["hyperparameters"].get(key, default) for c in cells]
    columns["seed"] = [c["seed"] for c in cells]
    if cells[0].get("sample") is not None:
        columns["sample"] = [c["sample"] for c in cells]
    columns["optkit_version"] = [ok.__version__] * n
    columns["worker"] = [f"{socket.gethostname()}:{os.getpid()}"] * n
    return columns


def _done(settings: dict, cells: list[dict], trace):
    import pandas as pd

    columns = _identity(settings, cells, hyperparameters(settings["optimizer"]))
    columns["status"] = ["done"] * len(cells)
    columns["error"] = [""] * len(cells)
    columns.update(metrics(trace, settings["metric"]))
    columns["diverged"] = np.asarray(trace.diverged, dtype=np.int64)
    columns["steps"] = [settings["steps"]] * len(cells)
    columns["wall_time"] = [trace.wall_time] * len(cells)
    columns["batch_size"] = [len(cells)] * len(cells)
    columns["backend"] = [trace.options["backend"]] * len(cells)
    return pd.DataFrame(columns)


def failed_rows(settings: dict, cells: list[dict], error: str):
    """The table of cells that could not run: ``status="failed"`` and the error."""
    import pandas as pd

    columns = _identity(settings, cells, hyperparameters(settings["optimizer"]))
    columns["status"] = ["failed"] * len(cells)
    columns["error"] = [error] * len(cells)
    columns["metric"] = [np.nan] * len(cells)
    columns["steps"] = [settings["steps"]] * len(cells)
    return pd.DataFrame(columns)


def _evaluate(settings: dict, cells: list[dict]) -> list:
    """Tables for ``cells``: one population, or halves of it where it raises."""
    try:
        trace = _population(settings, cells)
    except Exception as exc:
        if len(cells) == 1:
            return [failed_rows(settings, cells, f"{type(exc).__name__}: {exc}")]
        half = len(cells) // 2
        return _evaluate(settings, cells[:half]) + _evaluate(settings, cells[half:])
    return [_done(settings, cells, trace)]


def run_batch(settings: dict[str, Any], cells: list[dict], batch_id: str = ""):
    """Run one batch (a Dask task): the result rows as a pandas DataFrame.

    Parameters
    ----------
    settings : dict
        :meth:`Spec.settings`: optimizer, steps, every, x0, stochastic, backend,
        nonfinite, metric.
    cells : list of dict
        :meth:`Cell.config` of each cell: id, problem, hyperparameters, seed, sample.
        They share their problem configuration and flags.
    batch_id : str
        Written into the ``batch`` column.
    """
    import pandas as pd

    _log_execution(batch_id, cells)
    parts = _evaluate(settings, cells)
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    frame["batch"] = batch_id
    return frame
