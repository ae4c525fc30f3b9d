"""Callbacks for :func:`optkit.fit`: ``callback(history, model, optimizer) -> bool``.

A callback runs after each epoch's row is in the history; returning True stops
training (after that epoch's checkpoint, if any).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Stop when a History column has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A :class:`~optkit.nn.History` column.
    patience : int, default 5
        Epochs without improvement tolerated; the next one stops.
    min_delta : float, default 0
        An improvement must beat the best value by more than this.
    mode : {"min", "max"}
    restore_best : bool, default False
        On stopping, load the best epoch's ``state_dict`` back into the model.

    Examples
    --------
    >>> from optkit.nn import History
    >>> from optkit.nn.callbacks import EarlyStopping
    >>> stop, h = EarlyStopping(patience=1), History()
    >>> decisions = []
    >>> for epoch, loss in enumerate([1.0, 0.5, 0.6, 0.7], start=1):
    ...     h.append(epoch=epoch, val_loss=loss)
    ...     decisions.append(stop(h, None, None))
    >>> decisions, stop.best_epoch
    ([False, False, False, True], 2)
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "min",
        restore_best: bool = False,
    ):
        if mode not in ("min", "max"):
            raise ValueError(f"mode={mode!r}: expected 'min' or 'max'")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience={patience!r} must be an integer >= 0")
        if not min_delta >= 0:
            raise ValueError(f"min_delta={min_delta!r} must be >= 0")
        self.monitor, self.patience, self.min_delta = monitor, patience, float(min_delta)
        self.mode, self.restore_best = mode, bool(restore_best)
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.wait = 0
        self._best_state: dict[str, Any] | None = None

    def _improves(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def __call__(self, history: Any, model: Any, optimizer: Any) -> bool:
        row = history.last
        value = row[self.monitor]
        if math.isnan(value):
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which this run does not "
                f"record (pass validation= to fit?)"
            )
        if self._improves(value):
            self.best, self.best_epoch, self.wait = value, int(row["epoch"]), 0
            if self.restore_best:
                self._best_state = model.state_dict()
            return False
        self.wait += 1
        if self.wait <= self.patience:
            return False
        if self.restore_best and self._best_state is not None:
            model.load_state_dict(self._best_state)
        return True
