"""Sweep specs: TOML or a dict, checked completely before any work starts.

A spec names one optimizer, one or more problems (a list as a problem parameter
sweeps it), the number of steps, the seeds, a metric, and the hyperparameters to
sweep in ``[grid]`` (every combination) and/or ``[random]`` (``samples`` draws).
See :func:`load_spec` for every key.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import os
import re
from typing import Any

import numpy as np

from optkit.sweep import _catalog, _values
from optkit.sweep._catalog import canonical, suggest
from optkit.sweep._deps import parse_toml
from optkit.sweep._problems import check_problems
from optkit.sweep.errors import SpecError

__all__ = ["METRICS", "Spec", "load_spec", "parse_spec"]

METRICS = ("final_loss", "best_loss", "auc", "steps_to:<tol>")
#: Keys that do not change any result: editing them is not a changed spec.
COSMETIC = ("name", "batch_size", "batch_memory")
KEYS = (
    "name", "problem", "optimizer", "steps", "seeds", "metric", "grid", "random",
    "x0", "stochastic", "every", "backend", "nonfinite", "batch_size", "batch_memory",
)  # fmt: skip
_CHOICES = {
    "x0": ("standard", "random"),
    "nonfinite": ("stop", "raise", "propagate"),
    "backend": ("auto", "numpy", "numba", "cupy", "array_api"),
}
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})


def plain(value: Any) -> Any:
    """A spec given in Python as plain data: NumPy arrays and scalars become lists
    and numbers, tuples become lists, keys set to None are dropped."""
    if isinstance(value, dict):  # None means "not given" (TOML has no null)
        return {str(k): plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _integer(key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise SpecError(key, f"expected an integer, got {value!r}")
    if value < minimum:
        raise SpecError(key, f"{value} must be >= {minimum}")
    return int(value)


def _choice(key: str, value: Any) -> str:
    if value not in _CHOICES[key]:
        raise SpecError(key, f"{value!r}: expected one of {', '.join(_CHOICES[key])}")
    return value


def _seeds(value: Any) -> list[int]:
    if isinstance(value, list):
        if not value:
            raise SpecError("seeds", "the list is empty")
        seeds = [_integer(f"seeds[{i}]", s, 0) for i, s in enumerate(value)]
        if len(set(seeds)) != len(seeds):
            raise SpecError("seeds", f"a seed appears twice in {seeds}")
        return seeds
    return list(range(_integer("seeds", value, 1)))


def _metric(value: Any) -> tuple[str, float | None]:
    if not isinstance(value, str):
        raise SpecError("metric", f"expected a string, got {value!r}")
    if value in ("final_loss", "best_loss", "auc"):
        return value, None
    if value.startswith("steps_to:"):
        try:
            tol = float(value.split(":", 1)[1])
        except ValueError:
            tol = math.nan
        if not (math.isfinite(tol) and tol >= 0):
            raise SpecError("metric", f"{value!r}: the tolerance must be a number >= 0")
        return "steps_to", tol
    raise SpecError("metric", f"unknown metric {value!r}; choose from {', '.join(METRICS)}")


def _memory(value: Any) -> int:
    if _values.is_number(value):
        return _integer("batch_memory", value, 1)
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([A-Za-z]*)\s*", str(value))
    if not isinstance(value, str) or not match or match.group(2).lower() not in _UNITS:
        raise SpecError("batch_memory", f"{value!r}: expected bytes or e.g. '256MiB'")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < 1:
        raise SpecError("batch_memory", f"{value!r} must be positive")
    return size


class Spec:
    """A checked sweep spec (build one with :func:`load_spec`).

    Attributes
    ----------
    data : dict
        The spec as given (plain data): what ``spec.toml`` and the hash describe.
    name, optimizer : str
    steps, every : int
    seeds : list of int
    metric : str
        As written (``"steps_to:1e-6"``); ``metric_kind`` and ``tol`` split it.
    x0, backend, nonfinite : str
    stochastic : bool
    problems : list of dict
        One per problem table: parameter -> the list of its values (``name`` too).
    grid : dict
        Hyperparameter -> list of values.
    random : dict
        Hyperparameter -> ``(kind, args)``; ``samples`` and ``random_seed``.
    catalog : dict
        Every hyperparameter of the optimizer and its default.
    problem_info : dict
        Canonical problem configuration -> ``(dim, f_star)``.
    batch_size : int or None
    batch_memory : int
        Bytes a batch may use (an estimate: see ``docs/sweep.md``).
    """

    def __init__(self, data: dict[str, Any], text: str | None = None):
        self.data, self.text = data, text
        unknown = [k for k in data if k not in KEYS]
        if unknown:
            raise SpecError(unknown[0], f"unknown key{suggest(unknown[0], list(KEYS))}")
        for key in ("problem", "optimizer", "steps"):
            if key not in data:
                raise SpecError(key, "missing (required)")
        self.name = data.get("name", "sweep")
        if not (isinstance(self.name, str) and self.name):
            raise SpecError("name", f"expected a non-empty string, got {self.name!r}")
        self._run_settings(data)
        self._hyperparameters(data)
        self.problems, self.problem_info = check_problems(data["problem"], self.metric_kind)

    def _run_settings(self, data: dict[str, Any]) -> None:
        optimizer = data["optimizer"]
        optimizers = _catalog.known_optimizers()
        if not isinstance(optimizer, str) or optimizer.lower() not in optimizers:
            raise SpecError(
                "optimizer",
                f"unknown optimizer {optimizer!r}{suggest(str(optimizer), list(optimizers))}"
                f"; known: {', '.join(optimizers)}",
            )
        self.optimizer = optimizer.lower()
        self.steps = _integer("steps", data["steps"], 1)
        self.every = _integer("every", data.get("every", 1), 1)
        self.seeds = _seeds(data.get("seeds", 1))
        self.metric = data.get("metric", "final_loss")
        self.metric_kind, self.tol = _metric(self.metric)
        self.x0 = _choice("x0", data.get("x0", "standard"))
        self.nonfinite = _choice("nonfinite", data.get("nonfinite", "stop"))
        self.backend = _choice("backend", data.get("backend", "auto"))
        self.stochastic = data.get("stochastic", False)
        if not isinstance(self.stochastic, bool):
            raise SpecError(
                "stochastic", f"expected true or false, got {self.stochastic!r}"
            )
        size = data.get("batch_size")
        self.batch_size = None if size is None else _integer("batch_size", size, 1)
        self.batch_memory = _memory(data.get("batch_memory", "256MiB"))

    def _hyperparameters(self, data: dict[str, Any]) -> None:
        self.catalog = catalog = _catalog.hyperparameters(self.optimizer)
        self.grid: dict[str, list[Any]] = {}
        self.random: dict[str, tuple[str, Any]] = {}
        self.samples, self.random_seed = 0, 0
        grid, random = data.get("grid"), data.get("random")
        for key, table in (("grid", grid), ("random", random)):
            if table is not None and not isinstance(table, dict):
                raise SpecError(key, f"expected a table, got {table!r}")
        if grid is not None:
            if not grid:
                raise SpecError(
                    "grid", "the grid is empty: give at least one hyperparameter"
                )
            for name, value in grid.items():
                _catalog.check_hyperparameter(f"grid.{name}", name, self.optimizer, catalog)
                flag = isinstance(catalog[name], bool)
                self.grid[name] = _values.grid_axis(f"grid.{name}", value, flag)
        if random is not None:
            self._random(dict(random), catalog)

    def _random(self, random: dict[str, Any], catalog: dict[str, Any]) -> None:
        if "samples" not in random:
            raise SpecError("random.samples", "missing: how many random draws")
        self.samples = _integer("random.samples", random.pop("samples"), 1)
        self.random_seed = _integer("random.seed", random.pop("seed", 0), 0)
        if not random:
            raise SpecError("random", "no hyperparameter to draw")
        for name, value in random.items():
            key = f"random.{name}"
            _catalog.check_hyperparameter(key, name, self.optimizer, catalog)
            if name in self.grid:
                raise SpecError(key, f"{name} is also in [grid]; sweep it in one of them")
            self.random[name] = _values.random_axis(
                key, value, isinstance(catalog[name], bool)
            )

    # ----------------------------------------------------------------- identity
    @property
    def hash(self) -> str:
        """SHA-256 of everything that affects results (not ``name``, batch sizes)."""
        content = {k: v for k, v in self.data.items() if k not in COSMETIC}
        return hashlib.sha256(canonical(content).encode()).hexdigest()

    def settings(self) -> dict[str, Any]:
        """What every cell shares: optimizer, steps and run options (plain data)."""
        return {
            "optimizer": self.optimizer,
            "steps": self.steps,
            "every": self.every,
            "x0": self.x0,
            "stochastic": self.stochastic,
            "backend": self.backend,
            "nonfinite": self.nonfinite,
            "metric": self.metric,
        }

    def toml(self) -> str:
        """The spec as TOML: the text it was read from, else written from ``data``."""
        from optkit.sweep._toml import dumps

        return self.text if self.text is not None else dumps(self.data)

    def __repr__(self) -> str:
        return f"Spec({self.name!r}: {self.optimizer}, {self.steps} steps, {self.metric})"


def load_spec(source: Any) -> Spec:
    """Read and check a sweep spec: a ``Spec``, a dict, or the path of a TOML file.

    Parameters
    ----------
    source : Spec, dict, str or os.PathLike
        Keys (TOML or dict): ``problem`` (required; a table, or a list of tables:
        ``name`` and the problem's parameters, a list sweeps that parameter),
        ``optimizer`` (required; a name of ``ok.lab.OPTIMIZERS``), ``steps``
        (required), ``seeds`` (a count or a list; default 1), ``metric``
        (``"final_loss"`` (default), ``"best_loss"``, ``"auc"``,
        ``"steps_to:<tol>"``), ``[grid]`` and ``[random]`` (hyperparameter ->
        values; ``samples`` and ``seed`` in ``[random]``), ``x0`` (``"standard"`` or
        ``"random"``), ``stochastic``, ``every``, ``backend``, ``nonfinite``
        (as in :func:`optkit.lab.run`), ``batch_size``, ``batch_memory``, ``name``.

    Returns
    -------
    Spec

    Raises
    ------
    SpecError
        Naming the key at fault: unknown keys, optimizers, hyperparameters or
        problems, empty grids, wrong types.

    Examples
    --------
    >>> from optkit import sweep
    >>> spec = sweep.load_spec({"problem": {"name": "rosenbrock"}, "optimizer": "adam",
    ...                         "steps": 100, "grid": {"lr": {"logspace": [-3, -1, 3]}}})
    >>> spec.grid["lr"]
    [0.001, 0.01, 0.1]
    >>> sweep.load_spec({"problem": {"name": "rosenbrock"}, "optimizer": "adam",
    ...                  "steps": 100, "grid": {"learning_rate": [0.1]}})
    Traceback (most recent call last):
    ...
    optkit.sweep.errors.SpecError: spec key 'grid.learning_rate': optimizer 'adam' has no hyperparameter 'learning_rate'...
    """
    if isinstance(source, Spec):
        return source
    if isinstance(source, dict):
        return Spec(plain(source))
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"a spec is a dict or a TOML file path, got {source!r}")
    path = os.fspath(source)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise SpecError("(file)", f"cannot read {path!r}: {exc.strerror}") from None
    try:
        data = parse_toml(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise SpecError("(file)", f"{path!r} is not valid TOML: {exc}") from None
    if "name" not in data:
        data = {"name": os.path.splitext(os.path.basename(path))[0], **data}
    return Spec(data, text)


def parse_spec(text: str, name: str = "sweep") -> Spec:
    """Check a sweep spec given as TOML text (see :func:`load_spec` for the keys)."""
    try:
        data = parse_toml(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise SpecError("(text)", f"not valid TOML: {exc}") from None
    if "name" not in data:
        data = {"name": name, **data}
    return Spec(data, text)
