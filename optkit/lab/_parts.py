"""The pieces of a population run: recording, non-finite guard, clipping, progress."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

import array_api_compat
import numpy as np

from optkit import diagnostics

__all__ = ["Clipper", "Guard", "NonFiniteRunError", "Progress", "Recorder", "row_norms"]

#: Quantities ``record=`` accepts; "curvature" stands for its four arrays.
RECORDABLE = ("loss", "grad_norm", "curvature", "x", "lr", "step_norm")
CURVATURE = ("gTg", "gTHg", "predicted_change", "raises")


def host(a: Any) -> np.ndarray:
    """A NumPy copy of an array of any library."""
    if isinstance(a, np.ndarray):
        return a.copy()
    if type(a).__module__.split(".")[0] == "cupy":
        return a.get()
    return np.array(np.from_dlpack(a), copy=True)


def row_norms(xp: Any, a: Any) -> Any:
    """The 2-norm of each row; rows whose squares overflow are rescaled first."""
    norms = xp.sqrt(xp.sum(a * a, axis=-1))
    if bool(xp.all(xp.isfinite(norms))):
        return norms
    top = xp.max(xp.abs(a), axis=-1)
    scale = xp.where((top > 0) & xp.isfinite(top), top, 1.0)
    scaled = a / scale[:, None]
    return xp.where(xp.isfinite(norms), norms, scale * xp.sqrt(xp.sum(scaled**2, axis=-1)))


class NonFiniteRunError(FloatingPointError):
    """A run produced a NaN or infinite loss or gradient under ``nonfinite="raise"``.

    Attributes ``run`` (its index), ``step`` and ``label`` (its settings).
    """

    def __init__(self, run: int, step: int, label: str):
        self.run, self.step, self.label = run, step, label
        super().__init__(
            f"run {run} ({label}) has a non-finite loss or gradient at step {step}; "
            f"pass nonfinite='stop' to stop such runs and keep the others going"
        )


class Guard:
    """Per-run handling of non-finite values (``"stop"`` or ``"raise"``).

    A stopped run keeps its last iterate (its gradient is zeroed and its row of the
    population restored after every step); ``diverged`` holds the step it stopped at.
    """

    def __init__(self, policy: str, runs: int, xp: Any, label):
        self.policy, self.xp, self.label = policy, xp, label
        self.dead = np.zeros(runs, dtype=bool)
        self.diverged = np.full(runs, -1, dtype=np.int64)
        self.frozen = None
        self._mask = None

    def check(self, t: int, x: Any, f: Any, g: Any) -> Any:
        xp = self.xp
        total = float(xp.sum(g)) + (0.0 if f is None else float(xp.sum(f)))
        if math.isfinite(total) and self.frozen is None:
            return g
        bad = ~xp.all(xp.isfinite(g), axis=-1)
        if f is not None:
            bad = bad | ~xp.isfinite(f)
        bad = host(bad)
        new = bad & ~self.dead
        if new.any():
            if self.policy == "raise":
                k = int(np.flatnonzero(new)[0])
                raise NonFiniteRunError(k, t, self.label(k))
            self.diverged[new] = t
            snapshot = xp.asarray(x, copy=True)
            if self.frozen is not None:  # runs stopped earlier keep their own iterate
                snapshot = xp.where(self._mask, self.frozen, snapshot)
            self.frozen = snapshot
            self.dead |= new
            self._mask = xp.asarray(self.dead[:, None], device=array_api_compat.device(x))
        if self.frozen is None:
            return g
        return xp.where(self._mask, xp.zeros_like(g), g)

    def restore(self, x: Any) -> None:
        """Put the stopped runs back at their last iterate."""
        if self.frozen is not None:
            x[...] = self.xp.where(self._mask, self.frozen, x)


class Clipper:
    """Gradient clipping per run: element-wise (``"value"``) or by each run's norm
    (``"norm"``; ``"global_norm"`` is the same here, a run's parameters being one
    vector)."""

    def __init__(self, kind: str, threshold: Any, xp: Any, like: Any):
        self.kind, self.xp = kind, xp
        dev = array_api_compat.device(like)
        if isinstance(threshold, np.ndarray):
            column = xp.asarray(threshold.reshape(-1, 1), dtype=like.dtype, device=dev)
            self.threshold = column if kind == "value" else column[:, 0]
        else:
            self.threshold = float(threshold)

    def __call__(self, g: Any) -> Any:
        xp, c = self.xp, self.threshold
        if self.kind == "value":
            return xp.clip(g, -c, c)
        norms = row_norms(xp, g)
        over = norms > c
        scale = xp.where(over, c / xp.where(over, norms, 1.0), 1.0)
        return g * scale[:, None]


class Recorder:
    """Fills the ``(n_records, K[, dim])`` arrays at the recorded steps."""

    def __init__(self, problem, names, steps, every, x, lr_at, average):
        xp = self.xp = (
            array_api_compat.array_namespace(x) if not isinstance(x, np.ndarray) else np
        )
        self.problem, self.names, self.lr_at, self.average = problem, names, lr_at, average
        self.steps = np.array([*range(0, steps, every), steps], dtype=np.int64)
        runs, dim = x.shape
        dev = array_api_compat.device(x)
        self.buffers = {}
        for name in names:
            shape = (len(self.steps), runs, dim) if name in ("x", "avg_x") else None
            shape = shape or (len(self.steps), runs)
            dtype = xp.bool if name == "raises" else x.dtype
            self.buffers[name] = xp.zeros(shape, dtype=dtype, device=dev)
        self.track_steps = "step_norm" in names
        self.largest_step = xp.zeros(runs, dtype=x.dtype, device=dev)
        self.index = 0
        self.next = 0

    @property
    def needs_gradient(self) -> bool:
        """Whether a record needs the exact gradient (besides the loss)."""
        return any(n in self.names for n in ("grad_norm", *CURVATURE))

    def record(self, t: int, x: Any, f: Any, g: Any) -> None:
        """Store every quantity at step ``t`` (``f``/``g``: exact value and gradient)."""
        xp, buf, i = self.xp, self.buffers, self.index
        if "loss" in buf:
            buf["loss"][i, ...] = f
        if "grad_norm" in buf:
            buf["grad_norm"][i, ...] = row_norms(xp, g)
        if "gTg" in buf or "lr" in buf:
            lr = self.lr_at(t)
            if "lr" in buf:
                buf["lr"][i, ...] = lr
            if "gTg" in buf:
                c = diagnostics.curvature(self.problem, x, g, lr=lr)
                for name in CURVATURE:
                    buf[name][i, ...] = getattr(c, name)
        if "x" in buf:
            buf["x"][i, ...] = x
        if self.track_steps:
            buf["step_norm"][i, ...] = self.largest_step
            self.largest_step = xp.zeros_like(self.largest_step)
        if self.average is not None and ("avg_loss" in buf or "avg_x" in buf):
            mean = self.average.average
            if "avg_loss" in buf:
                buf["avg_loss"][i, ...] = self.problem.value(mean)
            if "avg_x" in buf:
                buf["avg_x"][i, ...] = mean
        self.index += 1
        self.next = int(self.steps[self.index]) if self.index < len(self.steps) else -1

    def moved(self, before: Any, after: Any) -> None:
        """Fold one step's length ``‖after − before‖`` into the running maximum."""
        self.largest_step = self.xp.maximum(
            self.largest_step, row_norms(self.xp, after - before)
        )

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: host(b) for name, b in self.buffers.items()}


class Progress:
    """A tqdm bar that appears once a run is projected to take more than ~2 s.

    ``enabled``: True (always, if tqdm is installed), False (never), None (only when
    standard error is a terminal).
    """

    def __init__(self, total: int, enabled: bool | None, description: str):
        self.total, self.description = total, description
        self.bar = None
        self.first = None
        self.start = time.perf_counter()
        self.active = enabled is not False and total > 0
        if self.active and enabled is None:
            self.active = bool(getattr(sys.stderr, "isatty", lambda: False)())
        if self.active:
            try:
                import tqdm  # noqa: F401
            except ImportError:
                self.active = False

    def update(self, done: int) -> None:
        if not self.active:
            return
        if self.bar is None:
            now = time.perf_counter()
            if self.first is None:  # the first steps may include compiling: skip them
                self.first = (now, done)
                return
            elapsed, steps = now - self.first[0], done - self.first[1]
            if now - self.start < 0.25 or steps <= 0:
                return
            if elapsed / steps * (self.total - done) + (now - self.start) < 2.0:
                return
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=self.description, unit="step")
        self.bar.update(done - self.bar.n)

    def close(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            self.bar.close()
