"""``race``: every optimizer on one problem, each as one population of learning rates
and starts, ranked by where it ends."""

from __future__ import annotations

import inspect
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Entry", "RaceResult", "race"]

#: Learning rates of a sweep span this factor range around the registry's tuned
#: value for the Rosenbrock race (six decades: a rate tuned for one problem can be
#: far off on another).
LR_SPAN = (1e-2, 1e3)


@dataclass
class Entry:
    """One optimizer's result in a race: its best learning rate and how it did there.

    Attributes
    ----------
    name, label : str
        Registry name (``"adam"``) and display label (``"Adam"``).
    lr : float
        The best learning rate of the sweep (by median final loss over the starts).
    kwargs : dict
        The other keyword arguments (the registry's algorithm and race settings).
    final : float
        Median over the starts of the final ``f − f*`` (``f`` when f* is unknown);
        ``inf`` when every run at this rate diverged.
    reached : float
        Share of the starts whose final ``f − f*`` is at most ``tol``.
    steps_to_tol : int
        Median over the starts that reached ``tol`` of the first recorded step below
        it; -1 when none did.
    us_per_step : float
        Wall time of the whole population run per step, in microseconds.
    diverged : int
        Runs of the sweep (all rates and starts) stopped at a non-finite value.
    trace : Trace
        The runs at the best rate (one per start).
    """

    name: str
    label: str
    lr: float
    kwargs: dict[str, Any]
    final: float
    reached: float
    steps_to_tol: int
    us_per_step: float
    diverged: int
    trace: Any = field(repr=False)


@dataclass
class RaceResult:
    """The ranked entries of :func:`race` and what was raced.

    ``entries`` is sorted best first (lowest median final loss; ties by steps to
    ``tol``). ``metric`` is ``"f − f*"`` or ``"f"``.
    """

    problem: Any
    steps: int
    starts: np.ndarray
    lrs: int
    tol: float
    metric: str
    entries: list[Entry]

    def table(self) -> str:
        """The ranked table as text."""
        head = (
            f"{self.problem!r}: {self.steps} steps, {self.starts.shape[0]} start(s), "
            f"{self.lrs} learning rate(s) per optimizer, backend "
            f"{self.entries[0].trace.options['backend']!r}"
        )
        lines = [
            head,
            f"{'rank':>4}  {'optimizer':<16}{'lr':>10}{'final ' + self.metric:>14}"
            f"{'reached ' + format(self.tol, 'g'):>15}{'steps to it':>13}{'us/step':>9}",
        ]
        for rank, e in enumerate(self.entries, 1):
            steps = "-" if e.steps_to_tol < 0 else str(e.steps_to_tol)
            lines.append(
                f"{rank:>4}  {e.label:<16}{e.lr:>10.3g}{e.final:>14.3e}"
                f"{e.reached:>15.0%}{steps:>13}{e.us_per_step:>9.1f}"
            )
        return "\n".join(lines)

    def plot(self, path: str | None = None):
        """Trajectories over the contours (2-D problems) or the ranking, and the loss
        curves at each optimizer's best rate (first start). Saves to ``path`` if
        given; returns the figure. Needs matplotlib (``pip install 'optkit[plot]'``).
        """
        from optkit.lab._plots import _pyplot, plot_landscape

        plt = _pyplot()
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
        colors = plt.get_cmap("tab10")(np.arange(len(self.entries)) % 10)
        if self.problem.dim == 2 and "x" in self.entries[0].trace:
            plot_landscape(self.problem, (), ax=left)
            for e, color in zip(self.entries, colors):
                xy = e.trace["x"][:, 0]
                left.plot(xy[:, 0], xy[:, 1], "-", color=color, lw=1.1, label=e.label)
            left.plot(*self.starts[0], "ko", ms=5)
            left.legend(fontsize=7, loc="lower right")
        else:
            finals = [max(e.final, 1e-300) if math.isfinite(e.final) else np.nan
                      for e in self.entries]  # fmt: skip
            left.barh([e.label for e in self.entries][::-1], finals[::-1], color="C0")
            left.set_xscale("log")
            left.set(xlabel=f"median final {self.metric}", title=repr(self.problem))
        for e, color in zip(self.entries, colors):
            values = (
                e.trace.excess()[:, 0] if self.metric == "f − f*" else e.trace["loss"][:, 0]
            )
            values = np.where(np.isfinite(values) & (values > 0), values, np.nan)
            right.semilogy(e.trace.steps, values, color=color, lw=1.1,
                           label=f"{e.label} (lr {e.lr:.2g})")  # fmt: skip
        right.set(
            xlabel="step", ylabel=self.metric, title="best learning rate, first start"
        )
        right.legend(fontsize=7)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=100, bbox_inches="tight")
        return fig


def _count(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={value!r}: expected an integer")
    if not low <= value <= high:
        raise ValueError(f"{name}={value!r}: must be in [{low}, {high}]")
    return int(value)


def _algorithms(optimizers: Any) -> list[Any]:
    from optkit.optim.registry import ALGORITHMS

    if optimizers is None:
        return list(ALGORITHMS.values())
    names = [optimizers] if isinstance(optimizers, str) else list(optimizers)
    if not names:
        raise ValueError("optimizers: give at least one name")
    unknown = [n for n in names if n not in ALGORITHMS]
    if unknown:
        raise ValueError(
            f"unknown optimizer {unknown[0]!r}; known: {', '.join(ALGORITHMS)}"
        )
    return [ALGORITHMS[n] for n in dict.fromkeys(names)]


def _starts(problem: Any, count: int, seed: int) -> np.ndarray:
    """The problem's standard start, then ``count − 1`` random starts (seed + k)."""
    points = [np.asarray(problem.x0, dtype=np.float64)]
    if count > 1:
        rngs = [np.random.default_rng(seed + k) for k in range(1, count)]
        points += list(np.asarray(problem.random_start(rngs), dtype=np.float64))
    return np.stack(points)


def _rates(center: float, count: int) -> np.ndarray:
    if count == 1:
        return np.array([center])
    low, high = LR_SPAN
    return center * np.geomspace(low, high, count)


def _entry(info: Any, trace: Any, rates: np.ndarray, starts: int, tol: float,
           f_star: float | None) -> Entry:  # fmt: skip
    """Pick the best rate of one optimizer's population (runs: rate-major)."""
    final = trace.final("loss") - (0.0 if f_star is None else f_star)
    final = np.where(np.isfinite(final), final, np.inf).reshape(len(rates), starts)
    median = np.median(final, axis=1)
    reached = trace.steps_to(tol, f_star=0.0 if f_star is None else None)
    reached = reached.reshape(len(rates), starts)
    speed = np.array([np.median(r[r >= 0]) if (r >= 0).any() else np.inf for r in reached])
    best = int(np.lexsort((speed, median))[0])
    runs = np.arange(best * starts, (best + 1) * starts)
    mine = reached[best]
    return Entry(
        name=info.name,
        label=info.label,
        lr=float(rates[best]),
        kwargs={**info.kwargs, **{k: v for k, v in info.race.items() if k != "lr"}},
        final=float(median[best]),
        reached=float(np.mean(mine >= 0)),
        steps_to_tol=int(np.median(mine[mine >= 0])) if (mine >= 0).any() else -1,
        us_per_step=trace.wall_time / max(trace.options["steps"], 1) * 1e6,
        diverged=int(np.sum(trace.diverged >= 0)),
        trace=trace.select(runs),
    )


def race(
    problem: Any = "rosenbrock",
    optimizers: Any = None,
    steps: int = 5000,
    *,
    starts: int = 1,
    lrs: int = 1,
    seed: int = 0,
    tol: float = 1e-3,
    backend: str | None = None,
    progress: bool | None = None,
) -> RaceResult:
    r"""Race optimizers on one problem: each is one population (learning rates ×
    starts) stepped with :func:`optkit.lab.run`, ranked by its median final loss.

    Parameters
    ----------
    problem : Problem or str, default "rosenbrock"
        An :mod:`optkit.problems` problem or its name.
    optimizers : sequence of str, optional
        Names from :data:`optkit.optim.registry.ALGORITHMS` (default: all). Each
        runs with its registry keyword arguments and the learning rate tuned for the
        5,000-step Rosenbrock race.
    steps : int, default 5000
        Steps per run, in [1, 10⁷].
    starts : int, default 1
        The problem's standard start ``x0``, then ``starts − 1`` random starts
        (``problem.random_start`` with generator ``seed + k``), the same for every
        optimizer; in [1, 10⁴].
    lrs : int, default 1
        Learning rates per optimizer: 1 uses the registry's tuned value; more sweep
        log-spaced rates over 1e-2 … 1e3 times it (the best is reported); in [1, 64].
    seed : int, default 0
    tol : float, default 1e-3
        The loss gap counted as "reached" (``f − f*``, or ``f`` when f* is unknown).
    backend : str, optional
        Optimizer backend (default: optkit's selection).
    progress : bool, optional
        Progress bars (see :func:`optkit.lab.run`).

    Returns
    -------
    RaceResult
        ``entries`` ranked best first; ``table()`` and ``plot(path)``.

    Notes
    -----
    One population per optimizer holds ``lrs × starts`` runs (rate-major), so the
    whole race costs one optimizer step per optimizer per iteration. The best rate
    minimises the median final loss over the starts (ties: the median steps to
    ``tol``). Records are taken every ``max(1, steps // 500)`` steps, which is the
    resolution of "steps to it"; iterates are recorded for 2-D problems (the plot).

    Examples
    --------
    >>> import optkit as ok
    >>> result = ok.lab.race("rosenbrock", ["sgd", "adam"], steps=2000)
    >>> [e.name for e in result.entries]              # Adam gets further
    ['adam', 'sgd']
    >>> result.entries[0].final < 1e-3 < result.entries[1].final
    True
    """
    import optkit as ok

    problem = ok.problems.make(problem) if isinstance(problem, str) else problem
    algorithms = _algorithms(optimizers)
    steps = _count("steps", steps, 1, 10**7)
    starts = _count("starts", starts, 1, 10**4)
    lrs = _count("lrs", lrs, 1, 64)
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol > 0:
        raise ValueError(f"tol={tol!r}: must be a number > 0")
    if not math.isfinite(tol):
        raise ValueError(f"tol={tol!r}: must be finite")
    points = _starts(problem, starts, _count("seed", seed, 0, 2**63 - 1))
    f_star = problem.f_star
    record = ("loss", "x") if problem.dim == 2 else ("loss",)
    entries = []
    for info in algorithms:
        rates = _rates(float(info.race["lr"]), lrs)
        kwargs = {**info.kwargs, **{k: v for k, v in info.race.items() if k != "lr"}}
        trace = ok.lab.run(
            problem, info.cls, steps, x0=np.tile(points, (len(rates), 1)),
            lr=np.repeat(rates, starts), seed=seed, record=record,
            every=max(1, steps // 500), backend=backend, progress=progress, **kwargs,
        )  # fmt: skip
        entries.append(_entry(info, trace, rates, starts, float(tol), f_star))
    entries.sort(
        key=lambda e: (e.final, e.steps_to_tol if e.steps_to_tol >= 0 else math.inf)
    )
    metric = "f" if f_star is None else "f − f*"
    return RaceResult(problem, steps, points, lrs, float(tol), metric, entries)


def problem_parameters(name: str) -> dict[str, Any]:
    """A problem factory's keyword arguments and their defaults (for listings)."""
    from optkit.problems import PROBLEMS

    signature = inspect.signature(PROBLEMS[name])
    return {k: p.default for k, p in signature.parameters.items()}
