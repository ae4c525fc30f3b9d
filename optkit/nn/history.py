"""``History``: what :func:`optkit.fit` measured, one row per epoch.

Columns (NaN where a quantity was not measured):

==================  ==========================================================
``epoch``           1, 2, ... (counts across resumed runs)
``train_loss``      mean of the epoch's batch losses (training mode, weighted
                    by batch size; the parameters move during the epoch)
``train_accuracy``  likewise, from the same forward passes (classification)
``val_loss``        validation loss at the end of the epoch (eval mode)
``val_accuracy``    validation accuracy at the end of the epoch
``avg_val_loss``    validation loss of the averaged parameters (``average=``)
``avg_val_accuracy``
``lr``              learning rate of the first parameter group at the epoch's last
                    step
``grad_norm``       mean global gradient 2-norm over the epoch's steps (before
                    clipping)
``time``            wall seconds of the epoch, evaluation included
``steps``           optimizer steps applied so far
==================  ==========================================================

Saved as JSON (``.json``) or NumPy ``.npz`` (any other suffix), never pickled.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["History"]

FIELDS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "avg_val_loss",
    "avg_val_accuracy",
    "lr",
    "grad_norm",
    "time",
    "steps",
)
_FORMAT = "optkit.history/1"


class History:
    """Per-epoch measurements of a training run.

    Examples
    --------
    >>> from optkit.nn import History
    >>> h = History()
    >>> h.append(epoch=1, train_loss=2.0, val_loss=1.5)
    >>> h.append(epoch=2, train_loss=1.0, val_loss=1.2)
    >>> h["val_loss"].tolist(), h.best("val_loss")
    ([1.5, 1.2], (2, 1.2))
    >>> len(h), h.last["train_loss"]
    (2, 1.0)
    """

    def __init__(self, records: Mapping[str, Any] | None = None):
        self.records: dict[str, list[float]] = {k: [] for k in FIELDS}
        if records is not None:
            lengths = {len(records.get(k, ())) for k in FIELDS}
            if len(lengths) != 1:
                raise ValueError(f"History columns have different lengths: {lengths}")
            for key in FIELDS:
                self.records[key] = [_number(v) for v in records.get(key, ())]

    def append(self, **values: float) -> None:
        """Add one epoch's row; columns not given are NaN."""
        unknown = sorted(set(values) - set(FIELDS))
        if unknown:
            raise KeyError(f"unknown History columns {unknown}; known: {list(FIELDS)}")
        for key in FIELDS:
            self.records[key].append(_number(values.get(key, math.nan)))

    def __len__(self) -> int:
        return len(self.records["epoch"])

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self.records:
            raise KeyError(f"unknown History column {key!r}; known: {list(FIELDS)}")
        return np.asarray(self.records[key], dtype=np.float64)

    @property
    def last(self) -> dict[str, float]:
        """The last epoch's row."""
        if not len(self):
            raise IndexError("History is empty")
        return {k: v[-1] for k, v in self.records.items()}

    def best(self, key: str = "val_loss", mode: str = "min") -> tuple[int, float]:
        """``(epoch, value)`` of the best entry of column ``key`` (NaNs ignored)."""
        values = self[key]
        if mode not in ("min", "max"):
            raise ValueError(f"mode={mode!r}: expected 'min' or 'max'")
        if not np.isfinite(values).any():
            raise ValueError(f"column {key!r} has no finite value")
        pick = np.nanargmin if mode == "min" else np.nanargmax
        i = int(pick(values))
        return int(self.records["epoch"][i]), float(values[i])

    def as_dict(self) -> dict[str, list[float]]:
        """The columns as plain lists (a copy)."""
        return {k: list(v) for k, v in self.records.items()}

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> None:
        """Write JSON (``.json``) or ``.npz`` (other suffixes); no pickle."""
        path = os.fspath(path)
        if path.endswith(".json"):
            plain = {
                k: [None if math.isnan(x) else x for x in v]
                for k, v in self.records.items()
            }
            with open(path, "w", encoding="utf-8") as f:
                json.dump({"format": _FORMAT, "columns": plain}, f, indent=1)
            return
        np.savez(path, **{k: self[k] for k in FIELDS})

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """Read what :meth:`save` wrote."""
        path = os.fspath(path)
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if not isinstance(data, dict) or data.get("format") != _FORMAT:
                raise ValueError(f"{path!r} is not an optkit History ({_FORMAT})")
            columns = {
                k: [math.nan if x is None else x for x in v]
                for k, v in data["columns"].items()
            }
            return cls(columns)
        with np.load(path, allow_pickle=False) as archive:
            return cls({k: archive[k].tolist() for k in FIELDS if k in archive.files})

    # ------------------------------------------------------------------ figure
    def plot(self, path: str | os.PathLike | None = None, *, title: str | None = None):
        """Loss and accuracy against epochs (and the learning rate when it changes).

        Returns the matplotlib figure; with ``path``, also saves it (PNG by suffix).
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(
                "History.plot needs matplotlib: pip install 'optkit[plot]'"
            ) from None
        epochs = self["epoch"]
        lr = self["lr"]
        varying = np.isfinite(lr).any() and np.nanmax(lr) != np.nanmin(lr)
        fig, axes = plt.subplots(
            1, 3 if varying else 2, figsize=(11 if varying else 8, 3.2)
        )
        panels = (("loss", ("train_loss", "val_loss", "avg_val_loss")),
                  ("accuracy", ("train_accuracy", "val_accuracy", "avg_val_accuracy")))  # fmt: skip
        for ax, (label, keys) in zip(axes, panels):
            for key in keys:
                if np.isfinite(self[key]).any():
                    ax.plot(epochs, self[key], label=key.replace("_", " "))
            ax.set_xlabel("epoch")
            ax.set_ylabel(label)
            if ax.lines:
                ax.legend(fontsize=8)
        if varying:
            axes[2].plot(epochs, lr)
            axes[2].set_yscale("log")
            axes[2].set_xlabel("epoch")
            axes[2].set_ylabel("learning rate")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        if path is not None:
            fig.savefig(os.fspath(path), dpi=110)
        return fig


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)
