"""Pictures of traces: trajectories over the landscape, and curves over the steps.

matplotlib is optional (``pip install 'optkit[plot]'``); both functions draw into
the given Axes (or a new figure) and return the Axes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from optkit.lab._trace import Trace

__all__ = ["plot_curves", "plot_landscape"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "optkit.lab plots need matplotlib: pip install 'optkit[plot]'"
        ) from exc
    return plt


def _traces(traces: Any) -> list[Trace]:
    items = [traces] if isinstance(traces, Trace) else list(traces)
    for item in items:
        if not isinstance(item, Trace):
            raise TypeError(
                f"expected a Trace or a list of Traces, got {type(item).__name__}"
            )
    return items


def _axes(ax: Any):
    if ax is not None:
        return ax
    return _pyplot().subplots(figsize=(6, 4.5))[1]


def _lines(traces: list[Trace], max_runs: int):
    """(trace, run, label) for the runs to draw: at most ``max_runs`` per trace."""
    out = []
    for trace in traces:
        chosen = np.unique(
            np.linspace(0, trace.runs - 1, min(trace.runs, max_runs)).astype(int)
        )
        out += [(trace, int(k), trace.label(int(k))) for k in chosen]
    return out


def _colors(count: int):
    plt = _pyplot()
    if count <= 10:
        return [f"C{i}" for i in range(count)]
    return list(plt.get_cmap("viridis")(np.linspace(0.0, 0.95, count)))


#: Trajectory colors that stand out on the viridis contours.
_PATH_COLORS = (
    "red",
    "white",
    "orange",
    "black",
    "magenta",
    "cyan",
    "C9",
    "C5",
    "pink",
    "C7",
)


def _path_colors(count: int):
    if count <= len(_PATH_COLORS):
        return list(_PATH_COLORS[:count])
    return list(_pyplot().get_cmap("cool")(np.linspace(0.0, 1.0, count)))


def plot_curves(
    traces: Any,
    y: str = "loss",
    *,
    log: bool = True,
    ax: Any = None,
    max_runs: int = 20,
    legend: bool | None = None,
):
    """Recorded quantity ``y`` against the step, one line per run.

    Parameters
    ----------
    traces : Trace or sequence of Trace
    y : str, default "loss"
        A recorded scalar (``"loss"``, ``"grad_norm"``, ``"gTg"``, ...) or
        ``"excess"`` (loss − f_star).
    log : bool, default True
        Logarithmic y axis (non-positive values are left out of the picture; so are
        values beyond 1e200 and non-finite ones, e.g. of diverged runs, on any axis).
    ax : matplotlib Axes, optional
    max_runs : int, default 20
        Runs drawn per trace (evenly spread over the population).
    legend : bool, optional
        Default: a legend when at most 10 lines are drawn.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import optkit as ok
    >>> trace = ok.lab.run("rosenbrock", "adam", steps=200, lr=[1e-2, 1e-1])
    >>> ax = ok.lab.plot_curves(trace, y="excess")
    >>> len(ax.get_lines())
    2
    """
    traces = _traces(traces)
    ax = _axes(ax)
    lines = _lines(traces, max_runs)
    colors = _colors(len(lines))
    scale = _varying(traces) if len(lines) > 10 else None
    if scale is not None:
        colors = [scale[0].to_rgba(scale[2][k]) for _, k, _ in lines]
        ax.figure.colorbar(scale[0], ax=ax, label=scale[1])
    positive = False
    for (trace, k, label), color in zip(lines, colors):
        values = trace.excess() if y == "excess" else trace[y]
        values = np.asarray(values[:, k], dtype=np.float64)
        values = np.where(np.abs(values) <= 1e200, values, np.nan)  # diverged: left out
        if log:
            values = np.where(values > 0, values, np.nan)
            positive |= bool(np.any(values > 0))
        ax.plot(trace.steps, values, color=color, lw=1.2, label=label)
    if log and positive:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss − f*" if y == "excess" else y)
    if legend or (legend is None and len(lines) <= 10):
        ax.legend(fontsize="small")
    return ax


def _varying(traces: list[Trace]):
    """(color mapping, name, values) when one trace has one varying numeric
    hyperparameter: its runs are then colored by that value (with a colorbar)."""
    if len(traces) != 1:
        return None
    varying = [
        (name, v)
        for name, v in traces[0].hyperparameters.items()
        if isinstance(v, np.ndarray) and v.ndim == 1 and np.ptp(v) > 0
    ]
    if len(varying) != 1:
        return None
    import matplotlib as mpl

    name, values = varying[0]
    low, high = float(values.min()), float(values.max())
    logscale = low > 0 and high / low > 10
    norm = mpl.colors.LogNorm(low, high) if logscale else mpl.colors.Normalize(low, high)
    mapping = mpl.cm.ScalarMappable(norm=norm, cmap="viridis")
    return mapping, name, values


def _slice_axes(problem, center, max_hvps):
    """Unit eigenvectors of the Hessian at ``center`` for λ_max and λ_min."""
    from optkit import diagnostics

    e = diagnostics.hessian_extremes(
        problem, center, 1, vectors=True, max_hvps=max_hvps or min(problem.dim, 100)
    )
    u, w = e.largest_vectors[0], e.smallest_vectors[0]
    w = w - (w @ u) * u  # keep the pair orthonormal even if Lanczos is not converged
    w = w / np.linalg.norm(w)
    return u, w, float(e.largest[0]), float(e.smallest[0])


def plot_landscape(
    problem: Any,
    traces: Any = (),
    *,
    ax: Any = None,
    bounds: Sequence[Sequence[float]] | None = None,
    levels: int = 30,
    log: bool = True,
    resolution: int = 160,
    max_runs: int = 20,
    max_hvps: int | None = None,
):
    """Contours of ``problem`` with the recorded trajectories on top.

    In 2-D the plane itself; in more dimensions the 2-D slice through ``x_star``
    (else the first trace's first final point, else ``x0``) spanned by the Hessian
    eigenvectors of its largest and smallest eigenvalues there, with the
    trajectories projected onto it.

    Parameters
    ----------
    problem : Problem
    traces : Trace or sequence of Trace, optional
        Trajectories need ``record=("x", ...)``; without them the final points are
        drawn.
    ax : matplotlib Axes, optional
    bounds : ((x_low, y_low), (x_high, y_high)), optional
        The window (default: ``problem.bounds`` in 2-D; the trajectories' extent
        along the slice otherwise).
    levels : int, default 30
    log : bool, default True
        Contours of ``log10(f − min f)`` over the window.
    resolution : int, default 160
        Grid points per axis.
    max_runs : int, default 20
        Trajectories drawn per trace.
    max_hvps : int, optional
        Lanczos budget for the slice directions (more than 2-D).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import optkit as ok
    >>> p = ok.problems.himmelblau()
    >>> trace = ok.lab.run(p, "adam", steps=100, lr=0.1, x0="random", seed=range(4),
    ...                    record=("loss", "x"))
    >>> ax = ok.lab.plot_landscape(p, trace)
    >>> len(ax.get_lines()) >= 4
    True
    """
    traces = _traces(traces)
    ax = _axes(ax)
    if problem.dim == 2:
        center, axes_, names = np.zeros(2), np.eye(2), ("x₁", "x₂")
    else:
        center = problem.x_star
        if center is None:
            center = traces[0].x_final[0] if traces else problem.x0
        u, w, high, low = _slice_axes(
            problem, np.asarray(center, dtype=np.float64), max_hvps
        )
        axes_ = np.stack([u, w])
        names = (f"along λ_max = {high:.3g}", f"along λ_min = {low:.3g}")
    paths = [
        (np.einsum("nd,ad->na", _path(t, k) - center, axes_), label)
        for t, k, label in _lines(traces, max_runs)
    ]
    window = _window(problem, bounds, paths, center)
    _contours(ax, problem, center, axes_, window, levels, log, resolution)
    for (path, label), color in zip(paths, _path_colors(len(paths))):
        ax.plot(path[:, 0], path[:, 1], "-", color=color, lw=1.2, label=label)
        ax.plot(path[:1, 0], path[:1, 1], "o", color=color, ms=4)
        ax.plot(path[-1:, 0], path[-1:, 1], "x", color=color, ms=6)
    minima = getattr(problem, "minima", None)
    if minima is None and problem.x_star is not None:
        minima = problem.x_star[None, :]
    if minima is not None:
        marks = (np.asarray(minima) - center) @ axes_.T
        ax.plot(marks[:, 0], marks[:, 1], "*", color="white", mec="black", ms=12)
    ax.set_xlim(window[0][0], window[1][0])
    ax.set_ylim(window[0][1], window[1][1])
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.set_title(repr(problem), fontsize="small")
    if 0 < len(paths) <= 10:
        ax.legend(fontsize="small")
    return ax


def _path(trace: Trace, k: int) -> np.ndarray:
    if "x" in trace:
        return trace["x"][:, k, :]
    return trace.x_final[k : k + 1]


def _window(problem, bounds, paths, center):
    if bounds is not None:
        low, high = (np.asarray(b, dtype=np.float64) for b in bounds)
        return low, high
    if problem.dim == 2:
        return problem.bounds[0].copy(), problem.bounds[1].copy()
    points = [p[np.all(np.isfinite(p), axis=1)] for p, _ in paths]
    points = np.concatenate([np.zeros((1, 2)), *points])
    extent = max(float(np.abs(points).max()), 1e-3) * 1.15
    return np.array([-extent, -extent]), np.array([extent, extent])


def _contours(ax, problem, center, axes_, window, levels, log, resolution):
    (x_lo, y_lo), (x_hi, y_hi) = window
    a, b = np.meshgrid(
        np.linspace(x_lo, x_hi, resolution), np.linspace(y_lo, y_hi, resolution)
    )
    grid = center + a.reshape(-1, 1) * axes_[0] + b.reshape(-1, 1) * axes_[1]
    with np.errstate(all="ignore"):
        z = np.asarray(problem.value(grid), dtype=np.float64).reshape(a.shape)
    finite = np.isfinite(z)
    if not finite.any():
        return
    z = np.where(finite, z, np.nanmax(np.where(finite, z, np.nan)))
    if log:
        span = z - z.min()
        z = np.log10(span + max(float(span.max()), 1e-300) * 1e-6)
    filled = ax.contourf(a, b, z, levels=levels, cmap="viridis")
    ax.figure.colorbar(filled, ax=ax, label="log10(f − min f)" if log else "f")
