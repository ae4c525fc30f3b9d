"""The pieces of :func:`optkit.fit`: data access, batch order, evaluation, schedules."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from optkit.nn.losses import accuracy as accuracy_of

__all__ = [
    "EpochClock",
    "batches",
    "check_optimizer",
    "evaluate",
    "first_lr",
    "plateaus",
    "progress_bar",
    "split_xy",
    "take",
    "use_epoch_clock",
]


def split_xy(label: str, data: Any) -> tuple[Any, Any]:
    """``(x, y)`` from a pair or an object with ``.x`` and ``.y``; checked lengths."""
    if hasattr(data, "x") and hasattr(data, "y"):
        x, y = data.x, data.y
    else:
        try:
            x, y = data
        except (TypeError, ValueError):
            raise TypeError(
                f"{label} must be an (x, y) pair or have .x and .y, got "
                f"{type(data).__name__}"
            ) from None
    for name, a in (("x", x), ("y", y)):
        if not hasattr(a, "shape") or len(a.shape) < 1:
            raise TypeError(f"{label}: {name} must be an array with a batch axis")
    if int(x.shape[0]) != int(y.shape[0]):
        raise ValueError(
            f"{label}: x has {int(x.shape[0])} rows but y has {int(y.shape[0])}"
        )
    if int(x.shape[0]) == 0:
        raise ValueError(f"{label} is empty")
    return x, y


def batches(
    n: int, batch_size: int, order: np.ndarray | None, drop_last: bool = False
) -> Iterator[np.ndarray]:
    """Index arrays of consecutive batches of ``order`` (or ``0..n-1``).

    ``fit`` draws ``order = rng.permutation(n)`` each epoch from
    ``rng = numpy.random.default_rng(seed)``, so a loop written elsewhere (torch)
    can replay the same batches.

    Examples
    --------
    >>> from optkit.nn.fit import batches
    >>> [b.tolist() for b in batches(5, 2, None)]
    [[0, 1], [2, 3], [4]]
    """
    n = int(n)
    order = np.arange(n) if order is None else order
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def take(a: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of ``a`` (NumPy fancy indexing; ``take`` for other libraries)."""
    if isinstance(a, np.ndarray):
        return a[idx]
    from optkit._host import from_numpy, namespace

    return namespace(a).take(a, from_numpy(idx, a), axis=0)


def check_optimizer(model: Any, optimizer: Any) -> None:
    """Raise unless ``optimizer`` steps ``model.parameters()`` (the current one)."""
    params = model.parameters()
    stepped = {id(a) for group in optimizer.param_groups for a in group["params"]}
    if not all(id(b) in stepped for b in params.buffers.values()):
        raise ValueError(
            "the optimizer does not step model.parameters(): create it on "
            "model.parameters() after any freeze()/unfreeze()"
        )


def evaluate(model, data, batch_size, loss, track_accuracy, prefix) -> dict[str, float]:
    """Eval-mode loss (and accuracy) of ``model`` on ``data``, keys with ``prefix``."""
    x, y = data
    out = model.predict(x, batch_size=batch_size)
    row = {f"{prefix}loss": float(loss(out, y))}
    if track_accuracy:
        row[f"{prefix}accuracy"] = accuracy_of(out, y)
    return row


def first_lr(optimizer: Any, t: int) -> float:
    """The first group's learning rate at step count ``t`` (NaN if not a number)."""
    group = optimizer.param_groups[0]
    value = group.get("lr", math.nan)
    if callable(value):
        value = value(max(t, 0))
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


# ----------------------------------------------------------------------- schedules
class EpochClock:
    """Completed epochs, read by the schedules that ``fit`` runs per epoch."""

    def __init__(self, epoch: int = 0):
        self.epoch = epoch


class PerEpoch:
    """A schedule read at the epoch count instead of the step count."""

    def __init__(self, schedule: Any, clock: EpochClock):
        self.schedule, self.clock = schedule, clock

    def __call__(self, t: int) -> float:
        return self.schedule(self.clock.epoch)

    def state_dict(self) -> dict[str, Any]:
        return self.schedule.state_dict() if hasattr(self.schedule, "state_dict") else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if hasattr(self.schedule, "load_state_dict"):
            self.schedule.load_state_dict(state)

    def __repr__(self) -> str:
        return f"per_epoch({self.schedule!r})"


def _wrap(value: Any, clock: EpochClock) -> Any:
    if isinstance(value, tuple):
        return tuple(_wrap(v, clock) for v in value)
    return PerEpoch(value, clock) if callable(value) else value


@contextlib.contextmanager
def use_epoch_clock(optimizer: Any, clock: EpochClock, active: bool):
    """Within the block, the optimizer's schedules read ``clock.epoch``."""
    if not active:
        yield
        return
    saved = []
    for group in optimizer.param_groups:
        for key in optimizer.defaults:
            saved.append((group, key, group[key]))
            group[key] = _wrap(group[key], clock)
    try:
        yield
    finally:
        for group, key, value in saved:
            group[key] = value


def plateaus(optimizer: Any) -> list[Any]:
    """Every ``ReduceOnPlateau`` among the hyperparameters (inside ``join`` too)."""
    from optkit.schedules import ReduceOnPlateau

    found: list[Any] = []

    def visit(value: Any) -> None:
        if isinstance(value, ReduceOnPlateau):
            if all(value is not f for f in found):
                found.append(value)
        elif isinstance(value, tuple):
            for v in value:
                visit(v)
        elif isinstance(value, PerEpoch):
            visit(value.schedule)
        else:
            for inner in getattr(value, "schedules", ()) or ():
                visit(inner)

    for group in optimizer.param_groups:
        for key in optimizer.defaults:
            visit(group[key])
    return found


def progress_bar(progress: bool, total: int):
    """A tqdm bar on a terminal (None when off, not a terminal, or without tqdm)."""
    if not progress:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    bar = tqdm(total=total, unit="batch", disable=None, dynamic_ncols=True)
    if bar.disable:
        bar.close()
        return None
    return bar
