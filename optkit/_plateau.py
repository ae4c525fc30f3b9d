"""``ReduceOnPlateau``: a metric-driven schedule (see :mod:`optkit.schedules`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from optkit._checks import count, join, real
from optkit._schedule_base import Schedule, _number


class ReduceOnPlateau(Schedule):
    r"""Multiply the value by ``factor`` when a metric stops improving.

    Semantics follow torch's ``ReduceLROnPlateau`` (rel/abs thresholds, patience,
    cooldown, minimum, and a reduction smaller than ``eps`` is ignored), but this is
    a schedule: it drives any hyperparameter and can sit inside
    :func:`~optkit.schedules.join`. Call :meth:`observe` with the metric (e.g. once
    per epoch); the value it returns does not depend on ``t``.

    Parameters
    ----------
    start : float
        Initial value.
    factor : float, default 0.1
        Multiplier in (0, 1) applied on a plateau.
    patience : int, default 10
        Observations without improvement tolerated before reducing.
    threshold : float, default 1e-4
        Improvement needed: ``metric < best (1 - threshold)`` in ``"min"`` mode with
        ``threshold_mode="rel"``, ``metric < best - threshold`` with ``"abs"``.
    mode : {"min", "max"}, default "min"
    cooldown : int, default 0
        Observations to wait after a reduction before counting again.
    min_value : float, default 0
        Lower bound of the value.
    threshold_mode : {"rel", "abs"}, default "rel"
    eps : float, default 1e-8
        Reductions smaller than this are ignored.

    Examples
    --------
    >>> from optkit.schedules import ReduceOnPlateau
    >>> lr = ReduceOnPlateau(0.1, factor=0.5, patience=1)
    >>> for loss in [1.0, 0.9, 0.9, 0.9]:
    ...     _ = lr.observe(loss)
    >>> lr(0)
    0.05
    """

    def __init__(
        self,
        start: float,
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        mode: str = "min",
        cooldown: int = 0,
        min_value: float = 0.0,
        threshold_mode: str = "rel",
        eps: float = 1e-8,
    ):
        start = _number("start", start)
        if start < 0:
            raise ValueError(f"start={start!r}: must be >= 0")
        factor = _number("factor", factor)
        if not 0 < factor < 1:
            raise ValueError(f"factor={factor!r}: must be in (0, 1)")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}={value!r}: must be an integer >= 0")
        if mode not in ("min", "max"):
            raise ValueError(f"mode={mode!r}: must be 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode={threshold_mode!r}: must be 'rel' or 'abs'")
        threshold = _number("threshold", threshold)
        if threshold < 0:
            raise ValueError(f"threshold={threshold!r}: must be >= 0")
        self.factor, self.patience, self.threshold = factor, patience, threshold
        self.mode, self.cooldown, self.threshold_mode = mode, cooldown, threshold_mode
        self.min_value, self.eps = _number("min_value", min_value), _number("eps", eps)
        self.value = start
        self.best = math.inf if mode == "min" else -math.inf
        self.bad_observations = 0
        self.cooldown_left = 0
        self.observations = 0
        super().__init__(self._current, "")

    def _current(self, t: int) -> float:
        return self.value

    def __repr__(self) -> str:
        return (
            f"ReduceOnPlateau(value={self.value!r}, factor={self.factor!r}, "
            f"patience={self.patience}, mode={self.mode!r})"
        )

    def _improves(self, metric: float) -> bool:
        best, th = self.best, self.threshold
        if self.mode == "min":
            return metric < (best * (1 - th) if self.threshold_mode == "rel" else best - th)
        return metric > (best * (1 + th) if self.threshold_mode == "rel" else best + th)

    def observe(self, metric: float) -> float:
        """Record a metric value; reduce after ``patience`` non-improving ones.

        Returns the (possibly reduced) current value. A NaN metric raises
        ``ValueError`` rather than silently counting as "no improvement".
        """
        metric = float(metric)
        if math.isnan(metric):
            raise ValueError("ReduceOnPlateau.observe got a NaN metric")
        self.observations += 1
        if self._improves(metric):
            self.best = metric
            self.bad_observations = 0
        else:
            self.bad_observations += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad_observations = 0
        if self.bad_observations > self.patience:
            reduced = max(self.value * self.factor, self.min_value)
            if self.value - reduced > self.eps:
                self.value = reduced
            self.cooldown_left = self.cooldown
            self.bad_observations = 0
        return self.value

    def state_dict(self) -> dict[str, Any]:
        """The mutable state: value, best metric, counters."""
        return {
            "value": self.value,
            "best": self.best,
            "observations": self.observations,
            "bad_observations": self.bad_observations,
            "cooldown_left": self.cooldown_left,
        }

    def check_state_dict(self, state: Any, where: str = "") -> None:
        """Raise naming the entry unless ``state`` is a state of this schedule: a
        finite value >= 0, a best metric that is not NaN, counters within range."""
        self._checked(state, where)

    def _checked(self, state: Any, where: str) -> tuple:
        if not isinstance(state, Mapping):
            raise TypeError(
                f"{where or 'ReduceOnPlateau state'} is a {type(state).__name__}, "
                f"expected a dict"
            )
        names = list(self.state_dict())
        missing = [k for k in names if k not in state]
        unknown = [k for k in state if k not in names]
        if missing or unknown:
            raise ValueError(
                f"{where or 'ReduceOnPlateau state'}: missing entries {missing}, "
                f"unknown entries {unknown}"
            )
        value = real(join(where, "value"), state["value"])
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{join(where, 'value')} is {value!r}: must be finite, >= 0")
        best = real(join(where, "best"), state["best"])
        if math.isnan(best):
            raise ValueError(f"{join(where, 'best')} is nan: not a metric value")
        seen = count(join(where, "observations"), state["observations"])
        bad = count(
            join(where, "bad_observations"),
            state["bad_observations"],
            min(self.patience, seen),
            f"patience={self.patience} or the {seen} observations",
        )
        left = count(
            join(where, "cooldown_left"),
            state["cooldown_left"],
            self.cooldown,
            f"cooldown={self.cooldown}",
        )
        return value, best, seen, bad, left

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; checked first, all or nothing."""
        checked = self._checked(state, "")
        self.value, self.best, self.observations = checked[:3]
        self.bad_observations, self.cooldown_left = checked[3:]
