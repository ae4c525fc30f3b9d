"""The :class:`Trace` of a population run: records, hyperparameters, save and load."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from optkit import _tempfiles

__all__ = ["Trace"]

_FORMAT = "optkit.trace/1"
_META = "__trace__"


class Trace:
    """What :func:`optkit.lab.run` recorded for a population of K runs.

    Attributes
    ----------
    steps : numpy.ndarray
        ``(n_records,)`` the step counts at which quantities were recorded (0 is the
        start; the last is always the final step).
    records : dict of numpy.ndarray
        ``(n_records, K)`` per quantity (``"loss"``, ``"grad_norm"``, ``"gTg"``,
        ``"gTHg"``, ``"predicted_change"``, ``"raises"``, ``"lr"``,
        ``"step_norm"``, ``"avg_loss"``), ``(n_records, K, dim)`` for ``"x"`` and
        ``"avg_x"``. Also reachable as ``trace["loss"]``.
    hyperparameters : dict
        Per run: ``(K,)`` floats (``(K, 2)`` for pairs such as ``betas``), or K
        descriptions for schedules.
    options : dict
        Everything shared by the runs: optimizer flags, clip, average, nonfinite,
        stochastic, every, backend.
    seeds : numpy.ndarray
        ``(K,)`` each run's seed.
    diverged : numpy.ndarray
        ``(K,)`` the step at which a run produced a non-finite loss or gradient
        (and was stopped there), ``-1`` if never.
    x_final : numpy.ndarray
        ``(K, dim)`` the final iterates; ``x_average`` the final Polyak averages (or
        None).
    problem : dict
        The problem's ``spec`` (``optkit.problems.make(**spec)`` rebuilds it).
    optimizer : str
    f_star : float or None
    wall_time : float
        Seconds the run took.

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> tr = ok.lab.run("quadratic", "sgd", steps=100, lr=[0.01, 0.1, 0.3], every=10)
    >>> tr.runs, tr["loss"].shape
    (3, (11, 3))
    >>> tr.steps_to(1e-6).tolist()     # first recorded step below 1e-6 (0.3 > 2/λ_max)
    [-1, 70, -1]
    """

    def __init__(
        self,
        *,
        steps,
        records,
        hyperparameters,
        options,
        seeds,
        diverged,
        x_final,
        problem,
        optimizer,
        f_star=None,
        x_average=None,
        wall_time=0.0,
    ):
        self.steps = np.asarray(steps, dtype=np.int64)
        self.records = {k: np.asarray(v) for k, v in records.items()}
        self.hyperparameters = dict(hyperparameters)
        self.options = dict(options)
        self.seeds = np.asarray(seeds, dtype=np.int64)
        self.diverged = np.asarray(diverged, dtype=np.int64)
        self.x_final = np.asarray(x_final)
        self.x_average = None if x_average is None else np.asarray(x_average)
        self.problem = dict(problem)
        self.optimizer = str(optimizer)
        self.f_star = None if f_star is None else float(f_star)
        self.wall_time = float(wall_time)

    # ----------------------------------------------------------------- access
    @property
    def runs(self) -> int:
        """K, the number of runs."""
        return int(self.x_final.shape[0])

    @property
    def names(self) -> tuple[str, ...]:
        """The recorded quantities."""
        return tuple(self.records)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.records[name]
        except KeyError:
            raise KeyError(
                f"{name!r} was not recorded; recorded: {', '.join(self.records)} "
                f"(choose with run(..., record=...))"
            ) from None

    def __contains__(self, name: str) -> bool:
        return name in self.records

    def final(self, name: str = "loss") -> np.ndarray:
        """The last record of ``name``: ``(K,)`` (``(K, dim)`` for ``"x"``)."""
        return self[name][-1]

    def best(self, name: str = "loss") -> np.ndarray:
        """The smallest recorded value of ``name`` per run (NaN ignored; NaN if none)."""
        values = self[name]
        finite = ~np.isnan(values)
        out = np.where(finite, values, np.inf).min(axis=0)
        return np.where(finite.any(axis=0), out, np.nan)

    def excess(self, name: str = "loss", f_star: float | None = None) -> np.ndarray:
        """``loss − f_star`` per record and run (``f_star`` defaults to the problem's)."""
        reference = self.f_star if f_star is None else float(f_star)
        if reference is None:
            raise ValueError(
                f"the problem {self.problem.get('name')!r} has no known f_star; pass "
                f"f_star= (e.g. the best loss found)"
            )
        return self[name] - reference

    def steps_to(self, tol: float, *, f_star: float | None = None) -> np.ndarray:
        """Per run, the first recorded step with ``loss − f_star <= tol``; -1 if never.

        The answer has the resolution of the recording (``every``): a run that
        reaches ``tol`` between two records is credited at the later one.
        """
        if not (isinstance(tol, (int, float)) and math.isfinite(tol)):
            raise ValueError(f"tol={tol!r}: expected a finite number")
        reached = self.excess("loss", f_star) <= tol  # NaN compares False
        first = np.argmax(reached, axis=0)
        return np.where(reached.any(axis=0), self.steps[first], -1).astype(np.int64)

    def label(self, run: int) -> str:
        """A short description of run ``run``: the optimizer and the hyperparameters
        that vary across the population (else the seed)."""
        return describe_run(self.optimizer, self.hyperparameters, self.seeds, run)

    def select(self, runs: Any) -> Trace:
        """A trace of the chosen runs only (indices, slice or boolean mask)."""
        index = np.arange(self.runs)[runs]
        index = np.atleast_1d(index)
        hyper = {
            k: (v[index] if isinstance(v, np.ndarray) else [v[i] for i in index])
            for k, v in self.hyperparameters.items()
        }
        return Trace(
            steps=self.steps,
            records={k: v[:, index] for k, v in self.records.items()},
            hyperparameters=hyper,
            options=self.options,
            seeds=self.seeds[index],
            diverged=self.diverged[index],
            x_final=self.x_final[index],
            x_average=None if self.x_average is None else self.x_average[index],
            problem=self.problem,
            optimizer=self.optimizer,
            f_star=self.f_star,
            wall_time=self.wall_time,
        )

    def __repr__(self) -> str:
        problem = self.problem.get("name", "?")
        every = self.options.get("every", "?")
        return (
            f"Trace({self.optimizer} on {problem}: {self.runs} runs, "
            f"{self.steps.shape[0]} records of {', '.join(self.records) or 'nothing'}; "
            f"steps 0..{int(self.steps[-1])} every {every})"
        )

    # ----------------------------------------------------------------- tables
    def to_frame(self, include_x: bool = False):
        """A long pandas DataFrame: one row per (record, run) with the step, the run
        index, its seed, every per-run hyperparameter (pairs as ``betas[0]``,
        ``betas[1]``) and every scalar record (``include_x`` adds ``x[i]``).

        Needs pandas: ``pip install 'optkit[lab]'``.
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "Trace.to_frame needs pandas: pip install 'optkit[lab]'"
            ) from exc
        n, k = self.steps.shape[0], self.runs
        columns: dict[str, Any] = {
            "step": np.repeat(self.steps, k),
            "run": np.tile(np.arange(k), n),
            "seed": np.tile(self.seeds, n),
            "optimizer": [self.optimizer] * (n * k),
        }
        for key, values in self.hyperparameters.items():
            if isinstance(values, np.ndarray) and values.ndim == 2:
                for i in range(values.shape[1]):
                    columns[f"{key}[{i}]"] = np.tile(values[:, i], n)
            else:
                columns[key] = np.tile(np.asarray(values, dtype=object), n)
        for name, values in self.records.items():
            if values.ndim == 2:
                columns[name] = values.reshape(-1)
            elif include_x:
                for i in range(values.shape[2]):
                    columns[f"{name}[{i}]"] = values[:, :, i].reshape(-1)
        return pd.DataFrame(columns)

    # ----------------------------------------------------------------- files
    def save(self, path: str | os.PathLike) -> None:
        """Write the trace to ``path`` atomically: a ``.npz`` of arrays and JSON.

        The file is written to a temporary file in the same folder, flushed,
        ``fsync``-ed and renamed over ``path`` (``os.replace``): a crash leaves the
        old file or the new one. Nothing is pickled.
        """
        arrays = {"steps": self.steps, "seeds": self.seeds, "diverged": self.diverged}
        arrays["x_final"] = self.x_final
        if self.x_average is not None:
            arrays["x_average"] = self.x_average
        for name, values in self.records.items():
            arrays[f"record/{name}"] = values
        texts = {}
        for key, values in self.hyperparameters.items():
            if isinstance(values, np.ndarray):
                arrays[f"hyper/{key}"] = values
            else:
                texts[key] = [str(v) for v in values]
        meta = {
            "format": _FORMAT,
            "problem": self.problem,
            "optimizer": self.optimizer,
            "f_star": self.f_star,
            "options": self.options,
            "wall_time": self.wall_time,
            "record_order": list(self.records),
            "hyper_order": list(self.hyperparameters),
            "hyper_text": texts,
        }
        text = json.dumps(meta, allow_nan=True, default=_plain)
        arrays[_META] = np.frombuffer(text.encode(), dtype=np.uint8)
        _atomic_savez(path, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Trace:
        """Read a trace written by :meth:`save` (``allow_pickle=False``)."""
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
        if _META not in arrays:
            raise ValueError(f"{os.fspath(path)!r} is not an optkit trace (no metadata)")
        meta = json.loads(arrays.pop(_META).tobytes().decode())
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{os.fspath(path)!r}: unknown format {meta.get('format')!r}")
        records = {n: arrays[f"record/{n}"] for n in meta["record_order"]}
        hyper = {
            k: arrays[f"hyper/{k}"] if f"hyper/{k}" in arrays else meta["hyper_text"][k]
            for k in meta["hyper_order"]
        }
        return cls(
            steps=arrays["steps"],
            records=records,
            hyperparameters=hyper,
            options=meta["options"],
            seeds=arrays["seeds"],
            diverged=arrays["diverged"],
            x_final=arrays["x_final"],
            x_average=arrays.get("x_average"),
            problem=meta["problem"],
            optimizer=meta["optimizer"],
            f_star=meta["f_star"],
            wall_time=meta["wall_time"],
        )


def describe_run(optimizer: str, hyperparameters: dict, seeds: np.ndarray, run: int) -> str:
    """``"adam lr=0.01"``: the optimizer and run ``run``'s varying hyperparameters."""
    parts = [optimizer]
    for key, values in hyperparameters.items():
        if isinstance(values, np.ndarray):
            if not np.any(values != values[:1]):
                continue
            value = values[run]
            text = (
                f"{value:.3g}" if value.ndim == 0 else ", ".join(f"{v:.3g}" for v in value)
            )
            parts.append(f"{key}={text}" if value.ndim == 0 else f"{key}=({text})")
        elif len(set(values)) > 1:
            parts.append(f"{key}={values[run]}")
    if len(parts) == 1 and len(set(np.asarray(seeds).tolist())) > 1:
        parts.append(f"seed={seeds[run]}")
    return " ".join(parts)


def _plain(value: Any) -> Any:
    """JSON fallback: NumPy scalars and arrays as Python data, anything else as text."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def _atomic_savez(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    target = os.path.abspath(os.fspath(path))
    _tempfiles.write_atomically(target, lambda file: np.savez(file, **arrays))
