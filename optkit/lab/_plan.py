"""Checking ``run``'s arguments and building the start of a population."""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

import optkit as ok
from optkit.lab._parts import CURVATURE, RECORDABLE
from optkit.lab._setup import Population, Sizes, expand_seeds, population, seeds_for

__all__ = ["AVERAGES", "Plan", "lr_reader", "plain", "start"]

_NONFINITE = ("stop", "raise", "propagate")
_CLIPS = ("value", "norm", "global_norm")
AVERAGES = {"window": "window", "tail": "start", "ema": "decay"}
#: Largest trace of iterates ``run`` allocates without being asked to thin it.
_MAX_TRACE_BYTES = 2 << 30


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={value!r}: expected an integer")
    if value < minimum:
        raise ValueError(f"{name}={value!r}: must be >= {minimum}")
    return int(value)


def _problem(problem: Any):
    if isinstance(problem, str):
        return ok.problems.make(problem)
    if isinstance(problem, ok.problems.Problem):
        return problem
    raise TypeError(f"problem must be a Problem or a problem name, got {problem!r}")


def _record_names(record: Any, average: Any) -> tuple[str, ...]:
    if isinstance(record, str):
        record = (record,)
    names: list[str] = []
    for name in record:
        if name not in RECORDABLE:
            raise ValueError(f"cannot record {name!r}; choose from {', '.join(RECORDABLE)}")
        names += list(CURVATURE) if name == "curvature" else [name]
    if average is not None:
        names += [a for a, b in (("avg_loss", "loss"), ("avg_x", "x")) if b in names]
    return tuple(dict.fromkeys(names))


def _clip(clip: Any, sizes: Sizes) -> tuple[str, Any] | None:
    if clip is None:
        return None
    if not (isinstance(clip, (tuple, list)) and len(clip) == 2 and clip[0] in _CLIPS):
        raise ValueError(f"clip={clip!r}: expected (kind, threshold), kind one of {_CLIPS}")
    kind, threshold = clip
    values = np.asarray(threshold, dtype=np.float64)
    if values.ndim > 1 or not np.all(values > 0) or not np.all(np.isfinite(values)):
        raise ValueError(f"clip threshold={threshold!r}: must be > 0 (one, or one per run)")
    if values.ndim == 1:
        sizes.add(values.shape[0], "clip threshold")
        return kind, values
    return kind, float(values)


def _average(average: Any) -> tuple[str, Any] | None:
    if average is None:
        return None
    if not (isinstance(average, (tuple, list)) and len(average) == 2):
        raise ValueError(
            f"average={average!r}: expected (mode, value), e.g. ('window', 100)"
        )
    if average[0] not in AVERAGES:
        raise ValueError(f"average mode {average[0]!r}: expected one of {tuple(AVERAGES)}")
    return average[0], average[1]


def _check_x0(problem, x0: Any, sizes: Sizes) -> str:
    if x0 is None:
        return "standard"
    if isinstance(x0, str):
        if x0 != "random":
            raise ValueError(f"x0={x0!r}: expected None, 'random' or an array")
        return "random"
    shape = tuple(np.shape(x0)) if not hasattr(x0, "shape") else tuple(x0.shape)
    if len(shape) not in (1, 2) or shape[-1] != problem.dim:
        raise ValueError(
            f"x0 has shape {shape}; expected ({problem.dim},) or (K, {problem.dim})"
        )
    if len(shape) == 2:
        sizes.add(shape[0], "x0")
    return "given"


def start(problem, x0: Any, kind: str, runs: int, generators, backend) -> Any:
    """The (K, dim) population: a fresh array in the namespace the run uses."""
    if kind == "standard":
        x = np.tile(problem.x0, (runs, 1))
    elif kind == "random":
        x = np.asarray(problem.random_start(generators), dtype=np.float64)
    elif isinstance(x0, np.ndarray) or not hasattr(x0, "shape"):
        x = np.array(
            np.broadcast_to(
                np.asarray(x0, dtype=np.result_type(x0, 1.0)), (runs, problem.dim)
            )
        )
    else:  # another library's array: keep its namespace, device and dtype
        xp = array_api_compat.array_namespace(x0)
        shape = (runs, problem.dim)
        return xp.asarray(xp.broadcast_to(x0, shape), copy=True)
    if backend == "cupy":
        import cupy

        return cupy.asarray(x)
    return x


def lr_reader(opt, xp, like):
    """``t -> lr`` of the run's first group: a float or a (K,) array."""
    value = opt.param_groups[0].get("lr")
    dev = array_api_compat.device(like)

    def as_rows(v):
        if not hasattr(v, "shape") or tuple(v.shape) == ():
            return float(v)
        if isinstance(v, np.ndarray):  # NumPy values for another namespace's runs
            v = xp.asarray(v, dtype=like.dtype, device=dev)
        return xp.reshape(v, (v.shape[0],))

    if callable(value):
        return lambda t: as_rows(value(t))
    fixed = as_rows(value)
    return lambda t: fixed


def plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


@dataclass
class Plan:
    """``run``'s arguments, checked (nothing is built before all of them pass)."""

    problem: Any
    population: Population
    steps: int
    every: int
    names: tuple[str, ...]
    seeds: np.ndarray
    x0: Any
    start: str
    stochastic: bool
    clip: Any
    average: Any
    nonfinite: str
    progress: Any
    backend: Any

    @classmethod
    def check(
        cls,
        problem,
        optimizer,
        steps,
        x0,
        seed,
        runs,
        stochastic,
        record,
        every,
        progress,
        backend,
        clip,
        average,
        nonfinite,
        hyperparameters,
    ):
        problem = _problem(problem)
        steps, every = _count("steps", steps, 0), _count("every", every, 1)
        if nonfinite not in _NONFINITE:
            raise ValueError(f"nonfinite={nonfinite!r}: expected one of {_NONFINITE}")
        if not isinstance(stochastic, bool):
            raise TypeError(f"stochastic={stochastic!r}: expected True or False")
        average = _average(average)
        names = _record_names(record, average)
        sizes = Sizes()
        if runs is not None:
            sizes.add(_count("runs", runs, 1), "runs")
        pop = population(optimizer, hyperparameters, sizes)
        seed_spec = seeds_for(seed, sizes)
        clip = _clip(clip, sizes)
        start = _check_x0(problem, x0, sizes)
        k = sizes.runs or 1
        x_bytes = 8 * k * problem.dim * (steps // every + 2)
        if sum(n in names for n in ("x", "avg_x")) * x_bytes > _MAX_TRACE_BYTES:
            raise ValueError(
                f"record='x' would keep {x_bytes / 2**30:.1f} GiB of iterates; "
                f"record every N steps (every=) or fewer runs"
            )
        seeds = expand_seeds(seed_spec, k)
        return cls(
            problem,
            pop,
            steps,
            every,
            names,
            seeds,
            x0,
            start,
            stochastic,
            clip,
            average,
            nonfinite,
            progress,
            backend,
        )
