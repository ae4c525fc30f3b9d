"""``run``: a population of optimizer runs on a problem, one kernel call per step."""

from __future__ import annotations

import functools
import time
from typing import Any

import array_api_compat
import numpy as np

import optkit as ok
from optkit.lab._parts import Clipper, Guard, Progress, Recorder, host
from optkit.lab._plan import AVERAGES, Plan, lr_reader, plain, start
from optkit.lab._setup import in_namespace, per_run_table
from optkit.lab._trace import Trace, describe_run

__all__ = ["run"]


def run(
    problem: Any,
    optimizer: Any,
    steps: int,
    *,
    x0: Any = None,
    seed: Any = 0,
    runs: int | None = None,
    stochastic: bool = False,
    record: Any = ("loss", "grad_norm"),
    every: int = 1,
    progress: bool | None = None,
    backend: str | None = None,
    clip: Any = None,
    average: Any = None,
    nonfinite: str = "stop",
    **hyperparameters: Any,
) -> Trace:
    r"""Run a population of K optimizer runs on ``problem``: one optimizer step per
    iteration updates all K runs (stacked as a ``(K, dim)`` array).

    Parameters
    ----------
    problem : Problem or str
        An :mod:`optkit.problems` problem (or its name, with default parameters).
    optimizer : str or optkit.Optimizer subclass
        ``"sgd"``, ``"momentum"`` (SGD, momentum 0.9 unless given), ``"nesterov"``,
        ``"heavy_ball"`` (the book's velocity form, ``lecture_momentum=True``),
        ``"adagrad"``, ``"rmsprop"``, ``"adam"``, ``"amsgrad"``, ``"adamw"``,
        ``"nadam"``, ``"delta_bar_delta"``, or a class.
    steps : int
        Optimizer steps per run.
    x0 : None, "random" or array, optional
        The start: ``problem.x0`` for every run (None), a uniform draw in
        ``problem.bounds`` per run from its own generator (``"random"``), one point
        ``(dim,)`` for all, or ``(K, dim)`` (one per run). Never modified.
    seed : int or sequence of int, default 0
        Run k's generator is ``numpy.random.default_rng(seeds[k])`` with
        ``seeds[k] = seed + k`` for an int, else the k-th entry: its random start and
        gradient noise come from it alone, so a run does not depend on its batch.
    runs : int, optional
        K, when no per-run argument fixes it (e.g. random starts).
    stochastic : bool, default False
        Step with ``problem.sample_grad`` (noise or minibatches) instead of ``grad``.
    record : sequence of str, default ("loss", "grad_norm")
        Any of ``"loss"`` (exact f), ``"grad_norm"`` (‖∇f‖, exact), ``"curvature"``
        (``gTg``, ``gTHg``, ``predicted_change``, ``raises`` for the step −lr·∇f:
        one ``hvp`` per record), ``"x"``, ``"lr"`` and ``"step_norm"`` (the longest
        step ‖Δx‖ since the previous record). With ``average``, ``"avg_loss"`` and
        ``"avg_x"`` are added for ``"loss"`` and ``"x"``.
    every : int, default 1
        Record at steps 0, every, 2·every, ... and always at the last step.
    progress : bool, optional
        A tqdm bar for runs projected to take over ~2 s: None shows it on a
        terminal only, False never, True always.
    backend : str, optional
        Optimizer backend (``"numpy"``, ``"numba"``, ``"cupy"``, ``"array_api"``;
        default: optkit's selection). With Numba, the problems that have one use
        their fused value-and-gradient kernel.
    clip : (kind, threshold), optional
        Clip each run's gradient before the step: ``"value"`` (element-wise to
        [−c, c], the book's rule), ``"norm"`` (rescale to norm ≤ c if above;
        ``"global_norm"`` is the same for a run's single parameter vector). The
        threshold may be one per run.
    average : (mode, value), optional
        Polyak averaging of the iterates: ``("window", N)``, ``("tail", start)`` or
        ``("ema", decay)`` (:class:`optkit.PolyakAverage`; the start counts as the
        first iterate).
    nonfinite : {"stop", "raise", "propagate"}, default "stop"
        A run whose step input is NaN/inf (its gradient, and its loss unless
        ``stochastic``): is stopped at its last iterate (the others continue;
        ``Trace.diverged`` gives the step), raises :class:`NonFiniteRunError`, or
        carries on with NaNs (rows never mix).
    **hyperparameters
        The optimizer's keyword arguments. A sequence (or 1-D array) gives one value
        per run, a number or schedule is shared, a sequence of schedules gives one
        per run. Flags (``nesterov``, ``amsgrad``, ...) are shared.

    Returns
    -------
    Trace

    Notes
    -----
    Per step: evaluate the gradient of all K runs (one call), check for non-finite
    values, clip, one ``optimizer.step`` on the ``(K, dim)`` array with ``(K, 1)``
    hyperparameter arrays, update the average. Row k of the population is computed
    by the same operations as a run alone: on the NumPy and Numba backends a
    population gives bit for bit the K separate runs, whether a separate run gets its
    hyperparameters as plain numbers or as one-element sequences.

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> trace = ok.lab.run("rosenbrock", "adam", steps=500, lr=[1e-3, 1e-2, 1e-1])
    >>> trace["loss"].shape, trace.runs
    ((501, 3), 3)
    >>> int(np.argmin(trace.final("loss")))           # the largest rate got furthest
    2
    """
    start_time = time.perf_counter()
    plan = Plan.check(
        problem,
        optimizer,
        steps,
        x0,
        seed,
        runs,
        stochastic,
        record,
        every,
        progress,
        backend,
        clip,
        average,
        nonfinite,
        hyperparameters,
    )
    runner = _Runner(plan)
    runner.loop()
    return runner.trace(time.perf_counter() - start_time)


class _Runner:
    """The population, its optimizer and helpers, and the step loop."""

    def __init__(self, plan: Plan):
        self.plan = p = plan
        k = p.seeds.shape[0]
        needs_rng = p.stochastic or p.start == "random"
        self.generators = (
            [np.random.default_rng(int(s)) for s in p.seeds] if needs_rng else None
        )
        self.x = x = start(p.problem, p.x0, p.start, k, self.generators, p.backend)
        self.xp = xp = (
            np if isinstance(x, np.ndarray) else array_api_compat.array_namespace(x)
        )
        kwargs = in_namespace(p.population.kwargs, xp, x)
        self.opt = p.population.cls(x, backend=p.backend, nonfinite="propagate", **kwargs)
        self.table = per_run_table(p.population.table, k)
        self.average = None
        if p.average is not None:
            mode, value = p.average
            self.average = ok.PolyakAverage(
                x, mode, **{AVERAGES[mode]: value}, optimizer=self.opt
            )
            self.average.update()  # the start is the first iterate
        lr = lr_reader(self.opt, xp, x)
        self.recorder = Recorder(p.problem, p.names, p.steps, p.every, x, lr, self.average)
        self.guard = None
        if p.nonfinite != "propagate":
            label = functools.partial(describe_run, p.population.name, self.table, p.seeds)
            self.guard = Guard(p.nonfinite, k, xp, label)
        self.clipper = None if p.clip is None else Clipper(*p.clip, xp, x)

    def _gradient(self, t: int):
        """The step's gradient (and value, when exact); records at recorded steps."""
        p, x, recorder = self.plan, self.x, self.recorder
        evaluate, backend = p.problem.value_and_grad, self.opt.backend
        if p.stochastic and t < p.steps:
            g = p.problem.sample_grad(x, self.generators, backend=backend)
            if t == recorder.next:
                exact = "loss" in p.names or recorder.needs_gradient
                recorder.record(
                    t, x, *(evaluate(x, backend=backend) if exact else (None,) * 2)
                )
            return None, g
        f, g = evaluate(x, backend=backend)
        if t == recorder.next:
            recorder.record(t, x, f, g)
        return f, g

    def loop(self) -> None:
        p, x, xp = self.plan, self.x, self.xp
        bar = Progress(p.steps, p.progress, f"{p.population.name} on {p.problem.name}")
        track = self.recorder.track_steps
        with np.errstate(all="ignore"):  # non-finite values are handled per run
            for t in range(p.steps + 1):
                f, g = self._gradient(t)
                if t == p.steps:
                    break
                if self.guard is not None:
                    g = self.guard.check(t, x, f, g)
                if self.clipper is not None:
                    g = self.clipper(g)
                before = xp.asarray(x, copy=True) if track else None
                self.opt.step(g)
                if self.guard is not None:
                    self.guard.restore(x)
                if self.average is not None:
                    self.average.update()
                if track:
                    self.recorder.moved(before, x)
                if t < 64 or not t & 63:
                    bar.update(t)
        bar.close(p.steps)

    def trace(self, wall_time: float) -> Trace:
        p, k = self.plan, self.plan.seeds.shape[0]
        options = {
            **p.population.options,
            "steps": p.steps,
            "every": p.every,
            "stochastic": p.stochastic,
            "x0": p.start,
            "clip": None if p.clip is None else [p.clip[0], plain(p.clip[1])],
            "average": None if p.average is None else list(p.average),
            "nonfinite": p.nonfinite,
            "backend": self.opt.backend,
            "record": list(p.names),
        }
        return Trace(
            steps=self.recorder.steps,
            records=self.recorder.arrays(),
            hyperparameters=self.table,
            options=options,
            seeds=p.seeds,
            diverged=np.full(k, -1) if self.guard is None else self.guard.diverged,
            x_final=host(self.x),
            x_average=None if self.average is None else host(self.average.average),
            problem=p.problem.spec,
            optimizer=p.population.name,
            f_star=p.problem.f_star,
            wall_time=wall_time,
        )
