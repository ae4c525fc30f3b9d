"""Plots of a sweep: a heatmap over two columns, or lines over one."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from optkit.sweep import _deps

__all__ = ["plot", "reduce_table"]


def _column(table, name: str) -> str:
    """``name``, or ``problem.<name>`` when the problem parameter was renamed."""
    if name in table.columns:
        return name
    if f"problem.{name}" in table.columns:
        return f"problem.{name}"
    raise KeyError(f"no column {name!r}; columns: {', '.join(map(str, table.columns))}")


def reduce_table(table, keys: list[str], value: str = "metric"):
    """One value per combination of ``keys``: the median over seeds of each
    configuration, then the best (lowest) over every other column that varies,
    i.e. each point of the plot with its other hyperparameters tuned.

    Returns the reduced DataFrame (``keys`` + ``value``) and the tuned columns.
    """
    from optkit.sweep._report import varying_columns

    done = table[table["status"] == "done"]
    varying = [c for c in varying_columns(done) if c not in keys and c not in ("seed",)]
    varying = [c for c in varying if c != "sample"]
    groups = keys + varying
    with np.errstate(all="ignore"):
        per_config = done.groupby(groups, dropna=False)[value].median().reset_index()
        reduced = per_config.groupby(keys, dropna=False)[value].min().reset_index()
    return reduced, varying


def _log_scale(values: np.ndarray) -> bool:
    values = values[np.isfinite(values)]
    return bool(values.size) and values.min() > 0 and values.max() / values.min() >= 10


def _label(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, (float, np.floating)) else str(value)


def _heatmap(ax, reduced, x: str, y: str, value: str):
    xs, ys = sorted(reduced[x].unique()), sorted(reduced[y].unique())
    grid = np.full((len(ys), len(xs)), np.nan)
    for _, row in reduced.iterrows():
        grid[ys.index(row[y]), xs.index(row[x])] = row[value]
    shown = np.ma.masked_invalid(grid)  # never reached (inf) or missing: blank
    norm = None
    if _log_scale(grid.ravel()):
        from matplotlib.colors import LogNorm

        norm = LogNorm()
    image = ax.imshow(shown, origin="lower", aspect="auto", norm=norm, cmap="viridis")
    step = max(1, len(xs) // 10)
    ax.set_xticks(range(0, len(xs), step), [_label(v) for v in xs[::step]], rotation=45)
    ax.set_yticks(range(len(ys)), [_label(v) for v in ys])
    ax.set_facecolor("0.85")
    return image


def _lines(ax, reduced, x: str, by: str | None, value: str) -> None:
    for key, part in [(None, reduced)] if by is None else reduced.groupby(by):
        part = part.sort_values(x)
        shown = part[value].where(np.isfinite(part[value]))
        label = None if by is None else f"{by}={_label(key)}"
        ax.plot(part[x], shown, marker="o", label=label)
    if _log_scale(np.asarray(reduced[x], dtype=float)):
        ax.set_xscale("log")
    if _log_scale(np.asarray(reduced[value], dtype=float)):
        ax.set_yscale("log")
    if by is not None:
        ax.legend()


def plot(source, x: str, y: str | None = None, *, by: str | None = None,
         value: str = "metric", out: str | os.PathLike | None = None):  # fmt: skip
    """Plot a sweep: a heatmap of ``value`` over ``x`` and ``y``, or a line plot of
    ``value`` against ``x`` (one line per value of ``by``).

    Each point is the median over seeds, minimized over every other column that
    varies (the other hyperparameters tuned, see :func:`reduce_table`). With ``y``,
    ``by`` makes one heatmap per value. Cells that never reached a ``steps_to``
    tolerance (inf) are left blank.

    Parameters
    ----------
    source : str, os.PathLike or pandas.DataFrame
        A sweep folder or a table from :func:`optkit.sweep.run`.
    x, y, by : str
        Column names (a problem parameter may be named without ``problem.``).
    value : str, default "metric"
    out : path, optional
        Save the figure there (PNG).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _deps.require("matplotlib", extra="plot", what="optkit sweep plot")
    import matplotlib.pyplot as plt

    from optkit.sweep._report import results

    table = source if hasattr(source, "columns") else results(source)
    metric = table.attrs.get("metric", "metric")
    x = _column(table, x)
    y = None if y is None else _column(table, y)
    by = None if by is None else _column(table, by)
    keys = [k for k in (x, y, by) if k is not None]
    reduced, tuned = reduce_table(table, keys, value)
    panels = [(None, reduced)] if y is None or by is None else list(reduced.groupby(by))
    width = min(len(panels), 4)
    rows = math.ceil(len(panels) / width)
    fig, axes = plt.subplots(rows, width, figsize=(5 * width, 4 * rows), squeeze=False)
    for ax, (key, part) in zip(axes.ravel(), panels):
        if y is None:
            _lines(ax, part, x, by, value)
            ax.set_ylabel(metric if value == "metric" else value)
        else:
            fig.colorbar(_heatmap(ax, part, x, y, value), ax=ax, label=metric)
            ax.set_ylabel(y)
            if key is not None:
                ax.set_title(f"{by}={_label(key)}")
        ax.set_xlabel(x)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_visible(False)
    note = (
        f"median over seeds; best over {', '.join(tuned)}" if tuned else "median over seeds"
    )
    if np.isinf(np.asarray(reduced[value], dtype=float)).any():
        note += "; blank: never reached"
    fig.suptitle(f"{table.attrs.get('name', 'sweep')}: {metric} ({note})")
    fig.tight_layout()
    if out is not None:
        fig.savefig(out, dpi=110, bbox_inches="tight")
    return fig
