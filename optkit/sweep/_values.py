"""The values a sweep takes: grid axes (lists and ranges) and random distributions.

A grid axis is a number (fixed), a list, or a range table
``{ logspace = [a, b, n] }`` (``10**a .. 10**b``), ``{ linspace = [a, b, n] }`` or
``{ geomspace = [a, b, n] }`` (NumPy's functions of the same names). A random axis
is a number (fixed) or ``{ loguniform = [a, b] }``, ``{ uniform = [a, b] }`` or
``{ choice = [...] }``. Flags (``nesterov``, ``amsgrad``, ...) take booleans only.
"""

from __future__ import annotations

import math
import numbers
import zlib
from typing import Any

import numpy as np

from optkit.sweep.errors import SpecError

__all__ = ["RANGES", "DISTRIBUTIONS", "draw", "grid_axis", "random_axis"]

RANGES = ("logspace", "linspace", "geomspace")
DISTRIBUTIONS = ("loguniform", "uniform", "choice")


def is_number(value: Any) -> bool:
    """A real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _scalar(key: str, value: Any, flag: bool) -> Any:
    """One value of a hyperparameter: a bool for a flag, else a finite float."""
    if flag:
        if not isinstance(value, bool):
            raise SpecError(
                key, f"{value!r} is not a boolean (this hyperparameter is a flag)"
            )
        return value
    if not is_number(value):
        raise SpecError(key, f"{value!r} is not a number")
    if not math.isfinite(value):
        raise SpecError(key, f"{value!r} is not finite")
    return float(value)


def _single_entry(key: str, table: dict, choices: tuple[str, ...]) -> tuple[str, Any]:
    if len(table) != 1 or next(iter(table)) not in choices:
        raise SpecError(
            key,
            f"expected a table with exactly one of {', '.join(choices)}; got keys "
            f"{', '.join(map(str, table)) or '(none)'}",
        )
    return next(iter(table.items()))


def _range(key: str, kind: str, args: Any) -> list[float]:
    if not (isinstance(args, list) and len(args) == 3):
        raise SpecError(f"{key}.{kind}", f"expected [start, stop, num], got {args!r}")
    start, stop, num = args
    if not (is_number(start) and is_number(stop)) or not all(map(math.isfinite, args[:2])):
        raise SpecError(f"{key}.{kind}", f"start and stop must be finite numbers: {args!r}")
    if isinstance(num, bool) or not isinstance(num, numbers.Integral):
        raise SpecError(f"{key}.{kind}", f"num must be an integer, got {num!r}")
    if num < 1:
        raise SpecError(f"{key}.{kind}", f"num={num}: the axis is empty")
    if kind == "geomspace" and (start <= 0 or stop <= 0):
        raise SpecError(f"{key}.{kind}", f"start and stop must be > 0: {args!r}")
    values = getattr(np, kind)(float(start), float(stop), int(num))
    return [float(v) for v in values]


def grid_axis(key: str, value: Any, flag: bool) -> list[Any]:
    """The values of one grid axis (non-empty, no duplicates)."""
    if isinstance(value, dict):
        if flag:
            raise SpecError(key, "a flag takes true/false or a list of them, not a range")
        values = _range(key, *_single_entry(key, value, RANGES))
    elif isinstance(value, list):
        if not value:
            raise SpecError(key, "the list is empty: give at least one value")
        values = [_scalar(f"{key}[{i}]", v, flag) for i, v in enumerate(value)]
    else:
        values = [_scalar(key, value, flag)]
    seen = set()
    for v in values:
        if v in seen:
            raise SpecError(key, f"the value {v!r} appears twice")
        seen.add(v)
    return values


def random_axis(key: str, value: Any, flag: bool) -> tuple[str, Any]:
    """A random axis as ``(kind, args)``: ``("fixed", v)``, ``("loguniform", (a, b))``,
    ``("uniform", (a, b))`` or ``("choice", [values])``."""
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise SpecError(
                key, "a random axis is a number or { choice = [...] }, not a list"
            )
        return "fixed", _scalar(key, value, flag)
    kind, args = _single_entry(key, value, DISTRIBUTIONS)
    where = f"{key}.{kind}"
    if kind == "choice":
        if not (isinstance(args, list) and args):
            raise SpecError(where, f"expected a non-empty list, got {args!r}")
        return kind, [_scalar(f"{where}[{i}]", v, flag) for i, v in enumerate(args)]
    if flag:
        raise SpecError(key, "a flag takes true/false or { choice = [true, false] }")
    if not (isinstance(args, list) and len(args) == 2):
        raise SpecError(where, f"expected [low, high], got {args!r}")
    low, high = (_scalar(f"{where}[{i}]", v, False) for i, v in enumerate(args))
    if low > high:
        raise SpecError(where, f"low={low} is above high={high}")
    if kind == "loguniform" and low <= 0:
        raise SpecError(where, f"low={low}: a log-uniform range must be positive")
    return kind, (low, high)


def draw(key: str, axis: tuple[str, Any], samples: int, seed: int) -> list[Any]:
    """The first ``samples`` values of a random axis.

    Each axis has its own generator, ``numpy.random.default_rng([seed, crc32(key)])``,
    and its i-th value is a function of the i-th uniform number of that stream
    alone: adding samples keeps the earlier ones, and adding or removing an axis
    leaves the other axes' values unchanged.
    """
    kind, args = axis
    if kind == "fixed":
        return [args] * samples
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    u = rng.random(samples)
    if kind == "choice":
        index = np.minimum((u * len(args)).astype(np.int64), len(args) - 1)
        return [args[i] for i in index]
    low, high = args
    if kind == "uniform":
        return [low + float(v) * (high - low) for v in u]
    # math.exp per value: NumPy's vectorized exp may round an element differently
    # depending on its position in the array, which would break the prefix property
    log_low, log_high = math.log(low), math.log(high)
    return [math.exp(log_low + float(v) * (log_high - log_low)) for v in u]
