"""Checks for :meth:`optkit.FlatParams.from_buffers` (adopting buffers, no copy)."""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from optkit._host import namespace
from optkit.params import check_float_array, dtype_name


def _library(x: Any) -> str:
    return type(x).__module__.split(".")[0]


def _contiguous(buffer: Any) -> bool:
    flags = getattr(buffer, "flags", None)  # NumPy, CuPy
    if flags is not None:
        return bool(flags.c_contiguous)
    is_contiguous = getattr(buffer, "is_contiguous", None)  # torch
    return bool(is_contiguous()) if callable(is_contiguous) else True


def _shape(name: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, Sequence) or not all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0
        for s in value
    ):
        raise TypeError(
            f"layout[{name!r}] has shape {value!r}: expected a tuple of ints >= 0"
        )
    return tuple(int(s) for s in value)


def _check_buffers(buffers: Any) -> Any:
    if not isinstance(buffers, Mapping) or not buffers:
        raise TypeError(
            "from_buffers needs a non-empty mapping of dtype name -> 1-D buffer"
        )
    first = next(iter(buffers.values()))
    for key, buffer in buffers.items():
        check_float_array(f"buffers[{key!r}]", buffer)
        if dtype_name(buffer.dtype) != key:
            raise ValueError(
                f"buffers[{key!r}] has dtype {dtype_name(buffer.dtype)}, not {key}"
            )
        if len(buffer.shape) != 1 or not _contiguous(buffer):
            raise ValueError(
                f"buffers[{key!r}] must be 1-D and C-contiguous (got shape "
                f"{tuple(buffer.shape)}); adopting it must not copy"
            )
        if _library(buffer) != _library(first):
            raise TypeError(
                f"buffers[{key!r}] is a {_library(buffer)} array; use one library"
            )
    return namespace(first)


def adopt(buffers: Mapping[str, Any], layout: Mapping[str, Any]):
    """``(xp, layout, buffers)`` for a FlatParams that aliases ``buffers``."""
    xp = _check_buffers(buffers)
    if not isinstance(layout, Mapping) or not layout:
        raise TypeError("from_buffers needs a non-empty layout mapping of name -> place")
    placed: dict[str, tuple[str, int, tuple[int, ...]]] = {}
    packed = {key: 0 for key in buffers}
    for name, place in layout.items():
        if not isinstance(name, str):
            raise TypeError(f"layout name {name!r} is not a string")
        if isinstance(place, Sequence) and len(place) == 3 and isinstance(place[0], str):
            key, offset, shape = place[0], place[1], _shape(name, place[2])
            if not isinstance(offset, numbers.Integral) or isinstance(offset, bool):
                raise TypeError(f"layout[{name!r}] has offset {offset!r}: expected an int")
        elif len(buffers) == 1:
            key, shape = next(iter(buffers)), _shape(name, place)
            offset = packed[key]
        else:
            raise ValueError(
                f"layout[{name!r}] = {place!r}: with several buffers give "
                f"(dtype name, offset, shape)"
            )
        if key not in buffers:
            raise ValueError(f"layout[{name!r}] names buffer {key!r}; have {list(buffers)}")
        size = 1
        for s in shape:
            size *= s
        if offset < 0 or offset + size > buffers[key].shape[0]:
            raise ValueError(
                f"layout[{name!r}] spans [{offset}, {offset + size}), outside "
                f"buffers[{key!r}] of length {buffers[key].shape[0]}"
            )
        packed[key] = max(packed[key], offset + size)
        placed[name] = (key, int(offset), shape)
    _no_overlap(placed)
    return xp, placed, dict(buffers)


def _no_overlap(placed: dict[str, tuple[str, int, tuple[int, ...]]]) -> None:
    spans = []
    for name, (key, offset, shape) in placed.items():
        size = 1
        for s in shape:
            size *= s
        if size:
            spans.append((key, offset, offset + size, name))
    spans.sort()
    for (k1, _, end1, n1), (k2, start2, _, n2) in itertools.pairwise(spans):
        if k1 == k2 and start2 < end1:
            raise ValueError(f"layout: views {n1!r} and {n2!r} overlap in buffers[{k1!r}]")
