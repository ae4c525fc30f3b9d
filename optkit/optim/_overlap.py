"""Refusing a parameter given twice: the same array, or views of overlapping memory.

An optimizer that updated the same memory twice per step (``[w, w]``, ``w`` in two
groups, ``w`` and a view of it under two names) would apply the update twice with two
state buffers; torch refuses a parameter in two groups. Arrays are compared by
identity, then by the byte ranges of their memory (NumPy's ``byte_bounds``, CuPy's
device pointer): ranges are sorted, so the check costs O(n log n), and NumPy's exact
``shares_memory`` settles interleaved views (two columns of one matrix are distinct).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optkit._host import library_of

__all__ = ["check_distinct"]


def _bounds(a: Any) -> tuple[int, int] | None:
    """(first byte, last byte + 1) of ``a``'s memory, or None when unknown or empty."""
    if getattr(a, "size", 1) == 0:
        return None
    if isinstance(a, np.ndarray):
        low, high = np.lib.array_utils.byte_bounds(a)
        return low, high
    if library_of(a) == "cupy":
        start = int(a.data.ptr)
        return start, start + int(a.nbytes)
    return None


def _overlap(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.shares_memory(a, b, max_work=10**6))
    return True  # same byte range on a device: treat as shared


def check_distinct(existing: list[tuple[str, Any]], new: list[tuple[str, Any]]) -> None:
    """Raise ``ValueError`` naming both entries if a new array is an existing one or
    shares memory with one (or with another new one)."""
    entries = existing + new
    first = len(existing)
    ids: dict[int, str] = {}
    for k, (name, a) in enumerate(entries):
        other = ids.get(id(a))
        if other is not None and k >= first:
            raise ValueError(
                f"parameter {name!r} is the same array as {other!r}: a parameter may "
                f"appear only once (once in one group)"
            )
        ids.setdefault(id(a), name)
    spans = []
    for k, (_, a) in enumerate(entries):
        bounds = _bounds(a)
        if bounds is not None:
            spans.append((bounds[0], bounds[1], k))
    spans.sort()
    open_spans: list[tuple[int, int]] = []  # (end, index) of spans still open
    for start, end, k in spans:
        open_spans = [(e, j) for e, j in open_spans if e > start]
        for _, j in open_spans:
            if max(j, k) >= first and _overlap(entries[j][1], entries[k][1]):
                a, b = sorted((j, k))
                raise ValueError(
                    f"parameters {entries[a][0]!r} and {entries[b][0]!r} share memory "
                    f"(overlapping views of one buffer): each value may be updated "
                    f"only once per step"
                )
        open_spans.append((end, k))
