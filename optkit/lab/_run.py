"""``run``: a population of optimizer runs on a problem, one kernel call per step."""

from __future__ import annotations

import numbers
import time
from typing import Any

import array_api_compat
import numpy as np

import optkit as ok
from optkit.lab._parts import (
    CURVATURE,
    RECORDABLE,
    Clipper,
    Guard,
    Progress,
    Recorder,
    host,
)
from optkit.lab._setup import _Sizes, expand_seeds, per_run_table, population, seeds_for
from optkit.lab._trace import Trace

__all__ = ["run"]

_NONFINITE = ("stop", "raise", "propagate")
_CLIPS = ("value", "norm", "global_norm")
_AVERAGES = {"window": "window", "tail": "start", "ema": "decay"}
#: Largest trace of iterates ``run`` allocates without being asked to thin it.
_MAX_TRACE_BYTES = 2 << 30


def _count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={value!r}: expected an integer")
    if value < minimum:
        raise ValueError(f"{name}={value!r}: must be >= {minimum}")
    return int(value)


def _problem(problem: Any):
    if isinstance(problem, str):
        return ok.problems.make(problem)
    if isinstance(problem, ok.problems.Problem):
        return problem
    raise TypeError(f"problem must be a Problem or a problem name, got {problem!r}")


def _record_names(record: Any, average: Any) -> tuple[str, ...]:
    if isinstance(record, str):
        record = (record,)
    names: list[str] = []
    for name in record:
        if name not in RECORDABLE:
            raise ValueError(f"cannot record {name!r}; choose from {', '.join(RECORDABLE)}")
        names += list(CURVATURE) if name == "curvature" else [name]
    if average is not None:
        names += [a for a, b in (("avg_loss", "loss"), ("avg_x", "x")) if b in names]
    return tuple(dict.fromkeys(names))


def _clip(clip: Any, sizes: _Sizes) -> tuple[str, Any] | None:
    if clip is None:
        return None
    if not (isinstance(clip, (tuple, list)) and len(clip) == 2 and clip[0] in _CLIPS):
        raise ValueError(f"clip={clip!r}: expected (kind, threshold), kind one of {_CLIPS}")
    kind, threshold = clip
    values = np.asarray(threshold, dtype=np.float64)
    if values.ndim > 1 or not np.all(values > 0) or not np.all(np.isfinite(values)):
        raise ValueError(f"clip threshold={threshold!r}: must be > 0 (one, or one per run)")
    if values.ndim == 1:
        sizes.add(values.shape[0], "clip threshold")
        return kind, values
    return kind, float(values)


def _average(average: Any) -> tuple[str, Any] | None:
    if average is None:
        return None
    if not (isinstance(average, (tuple, list)) and len(average) == 2):
        raise ValueError(
            f"average={average!r}: expected (mode, value), e.g. ('window', 100)"
        )
    if average[0] not in _AVERAGES:
        raise ValueError(f"average mode {average[0]!r}: expected one of {tuple(_AVERAGES)}")
    return average[0], average[1]


def _check_x0(problem, x0: Any, sizes: _Sizes) -> str:
    if x0 is None:
        return "standard"
    if isinstance(x0, str):
        if x0 != "random":
            raise ValueError(f"x0={x0!r}: expected None, 'random' or an array")
        return "random"
    shape = tuple(np.shape(x0)) if not hasattr(x0, "shape") else tuple(x0.shape)
    if len(shape) not in (1, 2) or shape[-1] != problem.dim:
        raise ValueError(
            f"x0 has shape {shape}; expected ({problem.dim},) or (K, {problem.dim})"
        )
    if len(shape) == 2:
        sizes.add(shape[0], "x0")
    return "given"


def _start(problem, x0: Any, kind: str, runs: int, generators, backend) -> Any:
    """The (K, dim) population: a fresh array in the namespace the run uses."""
    if kind == "standard":
        x = np.tile(problem.x0, (runs, 1))
    elif kind == "random":
        x = np.asarray(problem.random_start(generators), dtype=np.float64)
    elif isinstance(x0, np.ndarray) or not hasattr(x0, "shape"):
        x = np.array(np.broadcast_to(np.asarray(x0, dtype=np.result_type(x0, 1.0)),
                                     (runs, problem.dim)))  # fmt: skip
    else:  # another library's array: keep its namespace, device and dtype
        xp = array_api_compat.array_namespace(x0)
        shape = (runs, problem.dim)
        return xp.asarray(xp.broadcast_to(x0, shape), copy=True)
    if backend == "cupy":
        import cupy

        return cupy.asarray(x)
    return x


def _lr_reader(opt, runs: int, xp, like):
    """``t -> lr`` of the run's first group: a float or a (K,) array."""
    value = opt.param_groups[0].get("lr")
    dev = array_api_compat.device(like)

    def as_rows(v):
        if hasattr(v, "shape") and tuple(v.shape) != ():
            return xp.asarray(np.asarray(v, dtype=np.float64).reshape(-1), dtype=like.dtype,
                              device=dev)  # fmt: skip
        return float(v)

    if callable(value):
        return lambda t: as_rows(value(t))
    fixed = as_rows(value)
    return lambda t: fixed


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
        A run whose loss or gradient is NaN/inf: is stopped at its last iterate (the
        others continue; ``Trace.diverged`` gives the step), raises
        :class:`NonFiniteRunError`, or carries on with NaNs (rows never mix).
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
    population gives bit for bit the K separate runs (per-run hyperparameters given
    as one-element sequences in the separate runs: a shared number can take a
    different host path in the optimizer's bias corrections).

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
    problem = _problem(problem)
    steps, every = _count("steps", steps, 0), _count("every", every, 1)
    if nonfinite not in _NONFINITE:
        raise ValueError(f"nonfinite={nonfinite!r}: expected one of {_NONFINITE}")
    if not isinstance(stochastic, bool):
        raise TypeError(f"stochastic={stochastic!r}: expected True or False")
    average = _average(average)
    names = _record_names(record, average)
    sizes = _Sizes()
    if runs is not None:
        sizes.add(_count("runs", runs, 1), "runs")
    pop = population(optimizer, hyperparameters, sizes)
    seed_spec = seeds_for(seed, sizes)
    clip_spec = _clip(clip, sizes)
    start_kind = _check_x0(problem, x0, sizes)
    k = sizes.runs or 1
    seeds = expand_seeds(seed_spec, k)
    x_bytes = 8 * k * problem.dim * (steps // every + 2)
    if sum(n in names for n in ("x", "avg_x")) * x_bytes > _MAX_TRACE_BYTES:
        raise ValueError(
            f"record='x' would keep {x_bytes / 2**30:.1f} GiB of iterates; "
            f"record every N steps (every=) or fewer runs"
        )
    needs_rng = stochastic or start_kind == "random"
    gens = [np.random.default_rng(int(s)) for s in seeds] if needs_rng else None
    x = _start(problem, x0, start_kind, k, gens, backend)
    opt = pop.cls(x, backend=backend, nonfinite="propagate", **pop.kwargs)
    table = per_run_table(pop.table, k)
    options = {
        **pop.options,
        "steps": steps,
        "every": every,
        "stochastic": stochastic,
        "x0": start_kind,
        "clip": None if clip_spec is None else [clip_spec[0], _plain(clip_spec[1])],
        "average": None if average is None else list(average),
        "nonfinite": nonfinite,
        "backend": opt.backend,
        "record": list(names),
    }
    trace_args = dict(
        hyperparameters=table, options=options, seeds=seeds, problem=problem.spec,
        optimizer=pop.name, f_star=problem.f_star,
    )  # fmt: skip
    labeler = Trace(steps=[0], records={}, diverged=np.full(k, -1), x_final=np.zeros((k, 1)),
                    **trace_args).label  # fmt: skip
    recorder, guard, avg = _loop(
        problem, opt, x, steps, every, names, gens, stochastic, clip_spec, average,
        nonfinite, progress, labeler, pop.name,
    )  # fmt: skip
    return Trace(
        steps=recorder.steps,
        records=recorder.arrays(),
        diverged=guard.diverged if guard is not None else np.full(k, -1),
        x_final=host(x),
        x_average=None if avg is None else host(avg.average),
        wall_time=time.perf_counter() - start_time,
        **trace_args,
    )


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def _loop(problem, opt, x, steps, every, names, gens, stochastic, clip_spec, average,
          nonfinite, progress, labeler, name):  # fmt: skip
    """The step loop; returns the recorder, the guard and the average."""
    xp = np if isinstance(x, np.ndarray) else array_api_compat.array_namespace(x)
    evaluate = problem.value_and_grad
    backend = opt.backend
    avg = None
    if average is not None:
        mode, value = average
        avg = ok.PolyakAverage(x, mode, **{_AVERAGES[mode]: value}, optimizer=opt)
        avg.update()
    recorder = Recorder(
        problem, names, steps, every, x, _lr_reader(opt, x.shape[0], xp, x), avg
    )
    guard = None if nonfinite == "propagate" else Guard(nonfinite, x.shape[0], xp, labeler)
    clipper = None if clip_spec is None else Clipper(*clip_spec, xp, x)
    bar = Progress(steps, progress, f"{name} on {problem.name}")
    track = recorder.track_steps
    needs_exact = "loss" in names or recorder.needs_gradient
    with np.errstate(all="ignore"):
        for t in range(steps + 1):
            due = t == recorder.next
            if stochastic and t < steps:
                f, g = None, problem.sample_grad(x, gens, backend=backend)
                if due:
                    recorder.record(t, x, *(evaluate(x, backend=backend) if needs_exact
                                            else (None, None)))  # fmt: skip
            else:
                f, g = evaluate(x, backend=backend)
                if due:
                    recorder.record(t, x, f, g)
            if t == steps:
                break
            if guard is not None:
                g = guard.check(t, x, f, g)
            if clipper is not None:
                g = clipper(g)
            before = xp.asarray(x, copy=True) if track else None
            opt.step(g)
            if guard is not None:
                guard.restore(x)
            if avg is not None:
                avg.update()
            if track:
                recorder.moved(before, x)
            if not t & 63:
                bar.update(t)
    bar.close(steps)
    return recorder, guard, avg
