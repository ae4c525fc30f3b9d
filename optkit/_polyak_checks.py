"""Checks of :class:`optkit.averaging.PolyakAverage`'s arguments and saved state."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

from optkit._checks import count, finite, is_array
from optkit._checks import key as _path_key
from optkit.params import check_saved

_MODES = ("window", "tail", "ema")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def same(value: Any, own: Any) -> bool:
    """A saved hyperparameter equals ours (numbers of any scalar type; no arrays)."""
    if own is None or isinstance(own, str):
        return value is own if own is None else value == own
    kind = numbers.Integral if isinstance(own, int) else numbers.Real
    return isinstance(value, kind) and not isinstance(value, bool) and value == own


def check_hypers(mode: Any, window: Any, start: Any, decay: Any):
    """Validate mode and its one hyperparameter; ``ValueError`` names the culprit."""
    if mode not in _MODES:
        raise ValueError(f"invalid mode={mode!r}: expected one of {', '.join(_MODES)}")
    given = {"window": window, "start": start, "decay": decay}
    own = {"window": "window", "tail": "start", "ema": "decay"}[mode]
    for key, value in given.items():
        if value is not None and key != own:
            raise ValueError(f"{key}= applies to another mode, not mode={mode!r}")
    if mode == "window":
        if window is None:
            raise ValueError("mode='window' needs window=N (the number of iterates)")
        if not _is_int(window) or window < 1:
            raise ValueError(f"invalid window={window!r}: must be an integer >= 1")
        return mode, int(window), None, None
    if mode == "tail":
        start = 0 if start is None else start
        if not _is_int(start) or start < 0:
            raise ValueError(f"invalid start={start!r}: must be an integer >= 0")
        return mode, None, int(start), None
    decay = 0.999 if decay is None else decay
    if isinstance(decay, bool) or not isinstance(decay, numbers.Real) or not 0 <= decay < 1:
        raise ValueError(f"invalid decay={decay!r}: must be in [0, 1)")
    return mode, None, None, float(decay)


def check_arrays(saved: Any, key: str, names: list[str], targets: list[Any]) -> list:
    """The saved arrays, each checked for type, shape, dtype and finiteness."""
    if not isinstance(saved, Mapping):
        raise TypeError(f"{key} is {type(saved).__name__}: expected a dict of arrays")
    if [n for n in saved if n not in names]:
        raise ValueError(f"{key} has arrays for unknown parameters {list(saved)}")
    arrays = []
    for name, target in zip(names, targets):
        path = f"{key}{_path_key(name)}"
        if name not in saved:
            raise ValueError(f"{path} is missing")
        value = saved[name]
        if not is_array(value):
            raise TypeError(f"{path} is a {type(value).__name__}, expected an array")
        check_saved(path, value, target)
        if not finite(value):
            raise ValueError(f"{path} holds NaN or infinity")
        arrays.append(value)
    return arrays


def check_counters(sd: Mapping[str, Any], mode: str, window: int | None):
    """The saved counters: integers >= 0 that fit the mode and each other."""
    count_, updates, position = (
        count(k, sd.get(k)) for k in ("count", "updates", "position")
    )
    if count_ > updates:
        raise ValueError(f"count is {count_}: more than the {updates} updates")
    if mode != "window" and position != 0:
        raise ValueError(f"position is {position}: mode={mode!r} keeps no ring")
    if mode == "window" and (
        count_ > window or position >= window or (count_ < window and position != count_)
    ):
        raise ValueError(
            f"count={count_}, position={position}: do not fit a ring of window={window} "
            f"(position < window, and position == count until the ring is full)"
        )
    last = sd.get("last_step")
    return count_, updates, position, None if last is None else count("last_step", last)
