r"""Polyak averaging of the iterates: sliding window, tail, exponential moving average.

Goodfellow, Bengio & Courville (2016) averages the last :math:`N` iterates instead of keeping only the last
one, which takes out part of the bouncing around a minimum:

.. math:: \bar\theta = \frac{1}{N} \sum_{i=0}^{N-1} \theta_{N_{it} - i}

:class:`PolyakAverage` keeps that average (``mode="window"``), the average of every
iterate since a step :math:`T` (``mode="tail"``, Polyak & Juditsky 1992), or an
exponential moving average (``mode="ema"``). The tail and EMA updates are one
element-wise rule (:func:`optkit.rules.weighted_mean`), run by the same executors as
the optimizers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import array_api_compat

from optkit._backend import resolve_backend
from optkit._exec import run_update
from optkit._host import from_numpy, to_numpy
from optkit._polyak_checks import check_arrays, check_counters, check_hypers, same
from optkit.params import ParamTree
from optkit.rules import weighted_mean

__all__ = ["PolyakAverage"]

_FORMAT = "optkit.polyak/1"
_ENTRIES = ("format", "mode", "window", "start", "decay", "count", "updates", "position")
_ENTRIES += ("last_step", "names")


class PolyakAverage:
    r"""Average of the parameter iterates (Polyak averaging), updated in place.

    Parameters
    ----------
    params : array, list, dict or FlatParams
        The parameters being optimized; :meth:`update` reads them.
    mode : {"window", "tail", "ema"}
        ``"window"``: the exact mean of the last ``window`` iterates (the book's
        form). ``"tail"``: the mean of every iterate from step ``start`` on.
        ``"ema"``: exponential moving average with ``decay``.
    window : int
        :math:`N \ge 1`, required for ``mode="window"``.
    start : int, default 0
        :math:`T \ge 0` for ``mode="tail"``: iterates of step ``t >= start`` count.
    decay : float, default 0.999
        :math:`d \in [0, 1)` for ``mode="ema"``.
    optimizer : Optimizer, optional
        When given, :meth:`update` does nothing unless ``optimizer.step_count``
        changed since the last update (skipped steps do not advance the average),
        and an iterate's step is ``optimizer.step_count``. Without it, the k-th
        call of :meth:`update` sees iterate ``k``.
    backend : str, optional
        ``"numpy"``, ``"numba"``, ``"cupy"``, ``"array_api"`` or ``"auto"``.

    Notes
    -----
    With :math:`k` iterates averaged so far, :math:`\theta_t` the newest:

    .. math::
        \text{window:}\ \bar\theta = \frac{1}{\min(k, N)}
            \sum_{i=0}^{\min(k,N)-1}\theta_{t-i}, \qquad
        \text{tail:}\ \bar\theta \leftarrow \bar\theta + \frac{\theta_t -
            \bar\theta}{k}, \qquad
        \text{ema:}\ \bar\theta \leftarrow d\,\bar\theta + (1-d)\,\theta_t

    The first averaged iterate is copied (also for EMA: no bias towards zero).

    State memory, for :math:`P` parameters of the params' dtype: window keeps a
    ring buffer of the last :math:`N` iterates (:math:`N P`) plus the mean
    (:math:`P`), which is recomputed exactly from the ring when :attr:`average` is
    read after an update (summed in float64 for float16/float32, a temporary of
    :math:`P` float64); tail and EMA keep :math:`P`.

    References
    ----------
    Polyak & Juditsky (1992), *Acceleration of stochastic approximation by
    averaging*, SIAM J. Control Optim. 30(4).

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.averaging import PolyakAverage
    >>> w = np.zeros(2)
    >>> avg = PolyakAverage(w, "window", window=2)
    >>> for value in (1.0, 2.0, 4.0):
    ...     w[...] = value
    ...     _ = avg.update()
    >>> avg.average.tolist()               # mean of the last two iterates
    [3.0, 3.0]
    >>> with avg.swapped():
    ...     w.tolist()
    [3.0, 3.0]
    >>> w.tolist()
    [4.0, 4.0]
    """

    def __init__(
        self,
        params: Any,
        mode: str,
        *,
        window: int | None = None,
        start: int | None = None,
        decay: float | None = None,
        optimizer: Any | None = None,
        backend: str | None = None,
    ):
        self.mode, self.window, self.start, self.decay = check_hypers(
            mode, window, start, decay
        )
        if optimizer is not None and not hasattr(optimizer, "step_count"):
            raise TypeError(
                f"optimizer must have a step_count, got {type(optimizer).__name__}"
            )
        self._optimizer = optimizer
        tree = ParamTree.build(params)
        self._tree, self._params = tree, list(tree.arrays)
        resolved = resolve_backend(backend, self._params[0])
        for name, p in zip(tree.names, self._params):
            if type(p) is not type(self._params[0]):
                raise TypeError(
                    f"parameter {name!r} is a {type(p).__module__}.{type(p).__name__}; "
                    f"all parameters must come from one array library"
                )
        self.backend = resolved.name
        xp = self._xp = resolved.xp
        if tree.flat is not None:
            self._flat_average = tree.flat.zeros_like()
            self._average = [self._flat_average.buffers[k] for k in tree.keys]
        else:
            self._average = [xp.zeros_like(p) for p in self._params]
        self._ring = None
        if self.mode == "window":
            self._ring = [
                xp.zeros(
                    (self.window, *p.shape),
                    dtype=p.dtype,
                    device=array_api_compat.device(p),
                )
                for p in self._params
            ]
        self._resolved = resolved
        self._count = 0  # iterates in the average
        self._updates = 0  # update() calls that saw a new iterate
        self._position = 0  # next ring slot
        self._last_step: int | None = None
        self._stale = False  # window mean older than the ring
        self._swapped = False

    # ------------------------------------------------------------------ updating
    @property
    def params(self) -> list:
        """The parameter arrays this average reads (the buffers of a FlatParams)."""
        return list(self._params)

    @property
    def count(self) -> int:
        """Number of iterates in the average now."""
        return self._count

    def update(self) -> bool:
        """Fold the current parameters into the average.

        Returns
        -------
        bool
            False when nothing changed: the optimizer has not stepped since the last
            update, or (tail) the step is before ``start``.
        """
        if self._swapped:
            raise RuntimeError("update() inside swapped(): the params hold the average")
        if self._optimizer is not None:
            step = int(self._optimizer.step_count)
            if self._last_step is not None and step == self._last_step:
                return False
            self._last_step = step
            t = step
        else:
            t = self._updates + 1
        self._updates += 1
        if self.mode == "tail" and t < self.start:
            return False
        if self.mode == "window":
            for ring, p in zip(self._ring, self._params):
                ring[self._position, ...] = p
            self._position = (self._position + 1) % self.window
            self._count = min(self._count + 1, self.window)
            self._stale = True
            return True
        self._count += 1
        if self._count == 1:
            for avg, p in zip(self._average, self._params):
                avg[...] = p
            return True
        if self.mode == "ema":
            a, b = self.decay, 1.0 - self.decay
        else:
            b = 1.0 / self._count
            a = 1.0 - b
        for avg, p in zip(self._average, self._params):
            run_update(self._resolved, weighted_mean, avg, p, (), {"a": a, "b": b})
        return True

    def _arrays(self) -> list[Any]:
        """The average arrays, recomputed from the ring when stale."""
        if self._count == 0:
            raise RuntimeError(
                "PolyakAverage has no iterate yet: call update() after a step"
                + (
                    f" (tail mode starts at step {self.start})"
                    if self.mode == "tail"
                    else ""
                )
            )
        if self._stale:
            xp = self._xp
            for avg, ring in zip(self._average, self._ring):
                total = xp.sum(ring[: self._count, ...], axis=0, dtype=xp.float64)
                avg[...] = xp.astype(total / self._count, avg.dtype)
            self._stale = False
        return self._average

    @property
    def average(self) -> Any:
        """The averaged parameters, in the structure of ``params`` (do not modify)."""
        arrays = self._arrays()
        kind = self._tree.kind
        if kind == "array":
            return arrays[0]
        if kind == "list":
            return list(arrays)
        if kind == "flat":
            return self._flat_average
        return dict(zip(self._tree.keys, arrays))

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        """Put the averages into the params; restore the params on exit (also on
        exceptions). Costs one copy of the params."""
        averages = self._arrays()
        xp = self._xp
        saved = [xp.asarray(p, copy=True) for p in self._params]
        self._swapped = True
        try:
            for p, avg in zip(self._params, averages):
                p[...] = avg
            yield
        finally:
            for p, keep in zip(self._params, saved):
                p[...] = keep
            self._swapped = False

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        """Pickle/deepcopy without the namespace and resolved backend (modules)."""
        state = dict(self.__dict__)
        del state["_xp"], state["_resolved"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._resolved = resolve_backend(self.backend, self._params[0])
        self._xp = self._resolved.xp

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Plain data: counters, hyperparameters, names and NumPy arrays."""
        names = self._tree.names
        arrays = self._ring if self.mode == "window" else self._average
        return {
            "format": _FORMAT,
            "mode": self.mode,
            "window": self.window,
            "start": self.start,
            "decay": self.decay,
            "count": self._count,
            "updates": self._updates,
            "position": self._position,
            "last_step": self._last_step,
            "names": list(names),
            "ring" if self.mode == "window" else "average": {
                n: to_numpy(a) for n, a in zip(names, arrays)
            },
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output: all or nothing.

        Everything is checked before anything is written: format, hyperparameters,
        names, every array (type, shape, dtype, finite), counters (integers in range
        and consistent with each other). Raises ``ValueError`` (``TypeError`` for a
        wrong type or dtype) whose message starts with the entry, e.g. ``ring.w``.
        """
        sd = state_dict
        if not isinstance(sd, Mapping) or sd.get("format") != _FORMAT:
            raise ValueError(f"not a PolyakAverage state_dict (format != {_FORMAT!r})")
        key = "ring" if self.mode == "window" else "average"
        unknown = [k for k in sd if k not in (*_ENTRIES, key)]
        if unknown:
            raise ValueError(f"state_dict has unknown entries {unknown}")
        for name in ("mode", "window", "start", "decay"):
            value, own = sd.get(name), getattr(self, name)
            if not same(value, own):
                raise ValueError(
                    f"{name} is {value!r}: this PolyakAverage has {name}={own!r}"
                )
        names = self._tree.names
        saved_names = sd.get("names")
        if not isinstance(saved_names, (list, tuple)) or list(saved_names) != names:
            raise ValueError(f"names is {saved_names!r}: the parameters are {names}")
        targets = self._ring if self.mode == "window" else self._average
        arrays = check_arrays(sd.get(key), key, names, targets)
        counters = check_counters(sd, self.mode, self.window)
        # ---- everything checked: now write
        for value, target in zip(arrays, targets):
            target[...] = from_numpy(value, target)
        self._count, self._updates, self._position, self._last_step = counters
        self._stale = self.mode == "window" and self._count > 0

    def __repr__(self) -> str:
        hyper = {"window": self.window, "tail": self.start, "ema": self.decay}[self.mode]
        name = {"window": "window", "tail": "start", "ema": "decay"}[self.mode]
        return (
            f"PolyakAverage(mode={self.mode!r}, {name}={hyper!r}, count={self._count}, "
            f"backend={self.backend!r})"
        )
