"""Argument checks of :func:`optkit.nn.functional.batch_norm` (nothing is modified),
and the upstream-gradient check its backward shares with layer norm's."""

from __future__ import annotations

import operator
from typing import Any

from optkit._host import writable

__all__ = ["channel_layout", "check_arguments", "check_upstream"]


def channel_layout(shape: tuple[int, ...], axis: int) -> tuple[int, tuple[int, int, int]]:
    """The normalized channel axis and the ``(outer, C, inner)`` shape around it."""
    ndim = len(shape)
    if ndim < 2:
        raise ValueError(
            f"batch_norm expects x with at least 2 dimensions, got shape {shape}"
        )
    try:
        axis = operator.index(axis)
    except TypeError:
        raise TypeError(f"axis must be an integer, got {axis!r}") from None
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis} is out of range for x with {ndim} dimensions")
    axis %= ndim
    outer = inner = 1
    for s in shape[:axis]:
        outer *= int(s)
    for s in shape[axis + 1 :]:
        inner *= int(s)
    return axis, (outer, int(shape[axis]), inner)


def _check_channel_vector(name: str, v: Any, channels: int) -> None:
    if v is None:
        return
    if tuple(v.shape) != (channels,):
        raise ValueError(
            f"{name} has shape {tuple(v.shape)}, expected ({channels},) "
            f"(one value per channel)"
        )


def check_arguments(x, shape3, weight, bias, rm, rv, momentum, eps, nbt, training):
    """Raise ``ValueError``/``TypeError`` naming the culprit; nothing is modified
    (also not the running statistics: their writability is checked first)."""
    channels = shape3[1]
    for name, v in (("weight", weight), ("bias", bias)):
        _check_channel_vector(name, v, channels)
    for name, v in (("running_mean", rm), ("running_var", rv)):
        _check_channel_vector(name, v, channels)
    if (rm is None) != (rv is None):
        raise ValueError("running_mean and running_var must be given together (or neither)")
    if not eps >= 0:
        raise ValueError(f"eps={eps} must be >= 0")
    if momentum is not None and not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum={momentum} must be in [0, 1] (or None)")
    if nbt is not None and (getattr(nbt, "shape", None) != () or not _is_integer(nbt)):
        raise TypeError(
            f"num_batches_tracked must be a 0-d integer array (updated in place), got "
            f"{type(nbt).__name__} {getattr(nbt, 'dtype', '')}"
        )
    if training and momentum is None and rm is not None and nbt is None:
        raise ValueError("momentum=None (cumulative average) needs num_batches_tracked")
    if not training and rm is None:
        raise ValueError(
            "eval mode (training=False) needs running_mean and running_var; pass "
            "training=True to normalize with the batch's own statistics"
        )
    if training and shape3[0] * shape3[2] == 1:
        raise ValueError(
            f"Expected more than 1 value per channel when training, got input size "
            f"{tuple(x.shape)}"
        )
    if shape3[0] * shape3[2] == 0:
        raise ValueError(f"batch_norm got an empty input of shape {tuple(x.shape)}")
    if training:
        for name, v in (("running_mean", rm), ("running_var", rv),
                        ("num_batches_tracked", nbt)):  # fmt: skip
            reason = "" if v is None else writable(v)
            if reason:
                raise ValueError(f"{name} cannot be updated in place: {reason}")


def check_upstream(dy: Any, shape: tuple[int, ...], dtype: Any) -> None:
    """Raise unless ``dy`` has the forward input's ``shape`` (ValueError) and
    ``dtype`` (TypeError)."""
    if tuple(dy.shape) != shape:
        raise ValueError(
            f"dy has shape {tuple(dy.shape)}, but the forward input had {shape}"
        )
    if dy.dtype != dtype:
        raise TypeError(f"dy has dtype {dy.dtype}, but the forward input had {dtype}")


def _is_integer(a: Any) -> bool:
    kind = getattr(a.dtype, "kind", None)
    if kind is not None:
        return kind in "iu"
    return "int" in str(a.dtype)
