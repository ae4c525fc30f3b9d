"""Matplotlib charts of benchmark results (Agg, PNG; needs ``optkit[plot]``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["grouped_bars", "pyplot"]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend, or an ImportError naming
    the extra that brings matplotlib."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            "charts need matplotlib: pip install 'optkit[plot]' (or 'optkit[bench]')"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _color(series: str, index: int) -> Any:
    """Rooflines grey, torch peers in warm colors, optkit backends in cool ones."""
    base = series.split(" @ ")[0]
    fixed = {
        "numpy": "#4c72b0",
        "numba": "#2a9d8f",
        "cupy": "#7b3294",
        "roofline": "#9e9e9e",
        "roofline-cuda": "#616161",
        "torch": "#e76f51",
        "torch-fused": "#e76f51",
        "torch-foreach": "#f4a261",
        "torch-cuda": "#c0392b",
        "torch-cuda-fused": "#c0392b",
        "torch-loop": "#f4a261",
    }
    return fixed.get(base, f"C{index % 10}")


def _wrap(label: str) -> str:
    """Shape labels on two lines: ``'(64, 56, 56, 64)\nchannels-last'``."""
    return label.replace(") ", ")\n", 1)


def grouped_bars(
    panels: Sequence[tuple[str, dict[str, dict[str, float]]]],
    groups: Sequence[str],
    series: Sequence[str],
    path: str,
    ylabel: str = "time per call (s)",
    title: str = "",
) -> None:
    """Grouped bars on a log axis, one panel per entry of ``panels``.

    ``panels`` is ``[(panel title, {series: {group: value}})]``; every panel shows
    the ``groups`` on the x axis and one bar per series in each group (missing values
    leave a gap). Times span orders of magnitude, hence the log axis.
    """
    plt = pyplot()
    shown_per_panel = [
        [g for g in groups if any(per_group.get(g) for per_group in values.values())]
        for _, values in panels
    ]
    slots = [max(1, len(shown)) for shown in shown_per_panel]
    width_in = min(14.0, 2.8 + 0.24 * len(series) * sum(slots))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(max(width_in, 5.0), 3.6), dpi=80, squeeze=False,
        sharey=True, gridspec_kw={"width_ratios": slots},
    )  # fmt: skip
    bar = 0.8 / max(1, len(series))
    for ax, (panel_title, values), shown in zip(axes[0], panels, shown_per_panel):
        for k, name in enumerate(series):
            xs, ys = [], []
            for g, group in enumerate(shown):
                value = values.get(name, {}).get(group)
                if value is not None and value > 0 and math.isfinite(value):
                    xs.append(g - 0.4 + bar * (k + 0.5))
                    ys.append(value)
            ax.bar(xs, ys, width=bar, color=_color(name, k), label=name)
        ax.set_xticks(range(len(shown)), [_wrap(g) for g in shown], fontsize=7)
        ax.set_yscale("log")
        ax.set_title(panel_title, fontsize=9)
        ax.grid(axis="y", which="major", alpha=0.3)
    axes[0][0].set_ylabel(ylabel, fontsize=8)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1 - 1.4 / fig.get_figwidth(), 1))
    fig.savefig(path)
    plt.close(fig)
