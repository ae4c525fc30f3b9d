"""Turning ``run``'s arguments into a population: optimizer, hyperparameters, K, seeds.

A hyperparameter given as a sequence (or 1-D array) holds one value per run and
becomes an array of shape ``(K, 1)``, which optkit's optimizers broadcast against
the ``(K, dim)`` population: one kernel call per step for all runs. Numbers and
schedules are shared by all runs; a sequence of schedules becomes one schedule
that returns the ``(K, 1)`` array of their values.
"""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import optkit as ok

__all__ = ["OPTIMIZERS", "PerRun", "Population", "population"]

#: name -> (optimizer class, fixed options, defaults that differ from the class's).
OPTIMIZERS: dict[str, tuple[type, dict[str, Any], dict[str, Any]]] = {
    "sgd": (ok.SGD, {}, {}),
    "momentum": (ok.SGD, {}, {"momentum": 0.9}),
    "nesterov": (ok.SGD, {"nesterov": True}, {"momentum": 0.9}),
    "heavy_ball": (ok.SGD, {"lecture_momentum": True}, {"momentum": 0.9}),
    "adagrad": (ok.Adagrad, {}, {}),
    "rmsprop": (ok.RMSprop, {}, {}),
    "adam": (ok.Adam, {}, {}),
    "amsgrad": (ok.Adam, {"amsgrad": True}, {}),
    "adamw": (ok.AdamW, {}, {}),
    "nadam": (ok.NAdam, {}, {}),
    "delta_bar_delta": (ok.DeltaBarDelta, {}, {}),
}

#: Constructor arguments that ``run`` itself controls.
_RESERVED = ("params", "backend", "nonfinite")


class PerRun:
    """One schedule per run, as one schedule returning the ``(K, 1)`` array of values."""

    def __init__(self, schedules: Sequence[Callable[[int], float]], convert=None):
        self.schedules = list(schedules)
        self.convert = convert  # NumPy -> the population's namespace, if not NumPy

    def __call__(self, t: int) -> Any:
        values = np.array([[float(s(t))] for s in self.schedules])
        return values if self.convert is None else self.convert(values)

    def __repr__(self) -> str:
        return f"PerRun({self.schedules!r})"


class Population:
    """The resolved optimizer and the per-run table of its hyperparameters."""

    def __init__(self, name, cls, kwargs, table, options, runs):
        self.name = name  # the optimizer's name in the trace
        self.cls = cls
        self.kwargs = kwargs  # constructor keyword arguments (arrays of shape (K, 1))
        self.table = table  # hyperparameter -> (K,) floats, (K, 2) pairs, or K strings
        self.options = options  # flags shared by the population
        self.runs = runs  # K, or None when nothing fixed it


def _is_per_run(value: Any) -> bool:
    if isinstance(value, (str, bytes)):
        return False
    if hasattr(value, "shape"):
        return len(value.shape) >= 1
    return isinstance(value, Sequence)


def _describe(value: Any) -> str:
    return repr(value)


def _resolve_class(optimizer: Any) -> tuple[str, type, dict[str, Any], dict[str, Any]]:
    if isinstance(optimizer, str):
        entry = OPTIMIZERS.get(optimizer.lower())
        if entry is None:
            raise ValueError(
                f"unknown optimizer {optimizer!r}; known: {', '.join(OPTIMIZERS)} "
                f"(or pass an optkit.Optimizer subclass)"
            )
        return (optimizer.lower(), *entry)
    if isinstance(optimizer, type) and issubclass(optimizer, ok.Optimizer):
        return optimizer.__name__.lower(), optimizer, {}, {}
    raise TypeError(
        f"optimizer must be a name or an optkit.Optimizer subclass, got {optimizer!r}"
    )


def _accepted(cls: type) -> dict[str, Any]:
    """The constructor's hyperparameters and their defaults."""
    parameters = inspect.signature(cls.__init__).parameters
    return {
        n: p.default
        for n, p in parameters.items()
        if n != "self" and n not in _RESERVED and p.kind is not p.VAR_KEYWORD
    }


class Sizes:
    """Collects every argument that fixes K and checks that they agree."""

    def __init__(self):
        self.runs: int | None = None
        self.source = ""

    def add(self, count: int, source: str) -> None:
        if self.runs is None:
            self.runs, self.source = count, source
        elif count != self.runs:
            raise ValueError(
                f"{source} has {count} runs but {self.source} has {self.runs}: per-run "
                f"arguments must agree on the population size"
            )


def _per_run_value(name: str, value: Any, sizes: Sizes) -> tuple[Any, Any]:
    """(constructor value, table entry) for one numeric hyperparameter (or schedule)."""
    if callable(value):
        return value, _describe(value)
    if not _is_per_run(value):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            if not (hasattr(value, "shape") and tuple(value.shape) == ()):
                raise TypeError(
                    f"{name}={value!r}: expected a number, sequence or schedule"
                )
        return value, float(value)
    items = list(value.reshape(-1)) if hasattr(value, "shape") else list(value)
    if hasattr(value, "shape") and len(value.shape) == 2 and value.shape[1] != 1:
        raise ValueError(f"{name} has shape {tuple(value.shape)}; expected (K,) or (K, 1)")
    if hasattr(value, "shape") and len(value.shape) > 2:
        raise ValueError(f"{name} has shape {tuple(value.shape)}; expected (K,) or (K, 1)")
    sizes.add(len(items), name)
    if items and all(callable(v) for v in items):
        return PerRun(items), [_describe(v) for v in items]
    try:
        column = np.asarray(np.asarray(items, dtype=np.float64).reshape(-1, 1))
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected numbers or schedules, got {items!r}") from None
    return column, column[:, 0].copy()


def population(optimizer: Any, hyperparameters: dict[str, Any], sizes: Sizes) -> Population:
    """Resolve the optimizer and split the hyperparameters (see the module docstring)."""
    name, cls, fixed, name_defaults = _resolve_class(optimizer)
    accepted = _accepted(cls)
    for key in hyperparameters:
        if key in _RESERVED or key not in accepted:
            known = ", ".join(k for k in accepted if k not in fixed)
            raise ValueError(
                f"optimizer {name!r} has no hyperparameter {key!r}; its hyperparameters: "
                f"{known}"
            )
        if key in fixed:
            raise ValueError(
                f"optimizer {name!r} fixes {key}={fixed[key]!r}; choose "
                f"{cls.__name__} by its class or another name to set it"
            )
    values = {**{k: v for k, v in accepted.items() if v is not inspect.Parameter.empty}}
    values.update(name_defaults)
    values.update(fixed)
    values.update(hyperparameters)
    kwargs, table, options = {}, {}, {}
    for key, value in values.items():
        default = accepted[key]
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError(
                    f"{key}={value!r}: a flag is one True/False for the whole population; "
                    f"run separate populations to compare flags"
                )
            options[key] = kwargs[key] = value
        elif isinstance(default, tuple):
            if _is_per_run(value) and not (isinstance(value, Sequence) and len(value) == 2):
                raise ValueError(f"{key}={value!r}: expected a pair of values")
            pair = [_per_run_value(f"{key}[{i}]", v, sizes) for i, v in enumerate(value)]
            kwargs[key] = tuple(p[0] for p in pair)
            table[key] = tuple(p[1] for p in pair)
        else:
            kwargs[key], table[key] = _per_run_value(key, value, sizes)
    return Population(name, cls, kwargs, table, options, sizes.runs)


def per_run_table(table: dict[str, Any], runs: int) -> dict[str, Any]:
    """Every entry broadcast to K runs: floats to ``(K,)``, pairs to ``(K, 2)``,
    descriptions to lists of K strings."""
    out = {}
    for key, entry in table.items():
        if isinstance(entry, tuple):
            parts = [_broadcast(e, runs) for e in entry]
            if all(isinstance(p, np.ndarray) for p in parts):
                out[key] = np.stack(parts, axis=1)
            else:
                out[key] = [f"({a}, {b})" for a, b in zip(*[_as_text(p) for p in parts])]
        else:
            out[key] = _broadcast(entry, runs)
    return out


def _broadcast(entry: Any, runs: int) -> Any:
    if isinstance(entry, str):
        return [entry] * runs
    if isinstance(entry, list):
        return entry
    return np.broadcast_to(np.asarray(entry, dtype=np.float64), (runs,)).copy()


def _as_text(part: Any) -> list[str]:
    return [repr(float(v)) for v in part] if isinstance(part, np.ndarray) else part


def seeds_for(seed: Any, sizes: Sizes) -> Any:
    """Check ``seed`` (an int, or one int per run); register its run count."""
    if _is_per_run(seed):
        values = [int(s) for s in (seed.reshape(-1) if hasattr(seed, "shape") else seed)]
        sizes.add(len(values), "seed")
    else:
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"seed={seed!r}: expected an int or a sequence of ints")
        values = int(seed)
    for s in [values] if isinstance(values, int) else values:
        if s < 0:
            raise ValueError(f"seed={s}: seeds must be >= 0")
    return values


def expand_seeds(seeds: Any, runs: int) -> np.ndarray:
    """Run k's seed: ``seed + k`` for an int, else the k-th of the sequence."""
    if isinstance(seeds, int):
        return np.arange(seeds, seeds + runs, dtype=np.int64)
    return np.asarray(seeds, dtype=np.int64)


def in_namespace(kwargs: dict[str, Any], xp: Any, like: Any) -> dict[str, Any]:
    """Per-run arrays (and per-run schedules' values) moved to ``like``'s namespace
    and device, so that a CuPy population gets CuPy hyperparameters."""
    if xp is np:
        return kwargs
    import array_api_compat

    device = array_api_compat.device(like)

    def convert(values: np.ndarray) -> Any:
        return xp.asarray(values, dtype=like.dtype, device=device)

    def move(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(move(v) for v in value)
        if isinstance(value, np.ndarray):
            return convert(value)
        if isinstance(value, PerRun):
            return PerRun(value.schedules, convert)
        return value

    return {key: move(value) for key, value in kwargs.items()}
