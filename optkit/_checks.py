"""Checks shared by every ``load_state_dict``: key paths, counters, finiteness.

Loads validate the whole dict before writing anything; their errors are
``ValueError``/``TypeError`` whose message starts with the key path of the culprit
(``param_groups[0].lr``, ``state.w.exp_avg``, ``ring.w``, ``lr[1].value``).
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np


@contextlib.contextmanager
def at(path: str) -> Iterator[None]:
    """Prefix the message of a ``ValueError``/``TypeError`` raised inside with ``path``."""
    try:
        yield
    except (ValueError, TypeError) as exc:
        kind = TypeError if isinstance(exc, TypeError) else ValueError
        raise kind(f"{path}: {exc}") from None


def key(name: Any) -> str:
    """``name`` as a path component: ``w`` gives ``.w``, ``0.1`` gives ``['0.1']``."""
    return f".{name}" if str(name).isidentifier() else f"[{str(name)!r}]"


def join(where: str, name: Any) -> str:
    """``where`` + ``name`` as a key path (``name`` alone when ``where`` is empty)."""
    return f"{where}{key(name)}" if where else str(name)


def count(path: str, value: Any, upper: int | None = None, what: str = "") -> int:
    """A counter: an integer (not a bool, not a float), ``>= 0`` and ``<= upper``."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{path} is {value!r}: expected an integer count")
    if value < 0:
        raise ValueError(f"{path} is {value}: a count must be >= 0")
    if upper is not None and value > upper:
        raise ValueError(f"{path} is {value}: more than {what or upper}")
    return int(value)


def real(path: str, value: Any) -> float:
    """A real number (not a bool): Python or NumPy scalar, or a 0-d array."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{path} is {value!r}: expected a number")
    return float(value)


def finite(value: Any) -> bool:
    """True for finite numbers, flags, and arrays (of any library) without NaN/inf."""
    if isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, numbers.Real):
        return math.isfinite(value)
    import array_api_compat

    xp = array_api_compat.array_namespace(value)
    if not xp.isdtype(value.dtype, ("real floating", "complex floating")):
        return True
    return bool(xp.all(xp.isfinite(value)))


def is_array(value: Any) -> bool:
    """True for an array of any library (``shape`` and ``dtype``), 0-d included."""
    return hasattr(value, "shape") and hasattr(value, "dtype")
