"""The optimizer base class: parameter groups, state, validation, dispatch.

It holds no math and no backend branches. A subclass names its hyperparameters
and their checks, picks a rule from :mod:`optkit.rules` for a group's values, and
turns those values into the rule's host scalars once per step. The backend, the
array namespace and the executor are resolved once per group and reused. A step is
all or nothing (:mod:`optkit.optim._step`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from optkit._backend import get_backend, resolve_backend
from optkit._host import to_numpy, zeros_like
from optkit.optim import _step
from optkit.optim import _validate as V
from optkit.optim._gradients import match_gradients
from optkit.optim._overlap import check_distinct
from optkit.params import ParamTree, dtype_name
from optkit.rules import Rule

__all__ = ["Optimizer", "gradient_sign"]

_FORMAT = "optkit.optimizer/1"
_NONFINITE = ("raise", "skip", "propagate")
_warned_half: set[str] = set()


def _is_group_list(params: Any) -> bool:
    return (
        isinstance(params, Sequence)
        and not isinstance(params, str)
        and len(params) > 0
        and all(isinstance(g, Mapping) and "params" in g for g in params)
    )


def gradient_sign(values: dict[str, Any]) -> float:
    """The rules' ``sign``: -1.0 when the group maximizes (gradient ascent), else 1.0."""
    return -1.0 if values["maximize"] else 1.0


def _to_host(x: Any) -> Any:
    """A backend-neutral copy: NumPy arrays for arrays of any library, numbers as is."""
    return to_numpy(x) if hasattr(x, "shape") else x


class Optimizer:
    """Base class of optkit's optimizers (torch-style groups, state and ``step``).

    Subclasses set ``checks`` (``{hyperparameter: validator}``) and implement
    :meth:`rule_for` and :meth:`host_hypers`; optionally :meth:`init_state` and
    :meth:`check_group`.

    Examples
    --------
    A new optimizer from a new rule (signSGD with momentum, Bernstein et al. 2018):

    >>> import numpy as np, optkit as ok
    >>> from optkit.rules import rule
    >>> from optkit.rules.math import sign
    >>> @rule(state=("buf",))
    ... def signum(p, g, buf, *, lr, beta):
    ...     buf = beta * buf + (1 - beta) * g
    ...     return p - lr * sign(buf), buf
    >>> class Signum(ok.Optimizer):
    ...     def __init__(self, params, lr=0.01, beta=0.9, *, backend=None):
    ...         super().__init__(params, dict(lr=lr, beta=beta), backend=backend)
    ...     def rule_for(self, values):
    ...         return signum
    ...     def host_hypers(self, values, t, group_state):
    ...         return dict(lr=values["lr"], beta=values["beta"])
    >>> w = np.array([1.0, -1.0])
    >>> _ = Signum(w, lr=0.5, backend="numpy").step(np.array([3.0, -0.1]))
    >>> w.tolist()
    [0.5, -0.5]
    """

    checks: ClassVar[dict[str, Callable[[str, Any], None]]] = {}
    #: Host-side per-group state a subclass keeps (``{key: validator(name, value)}``),
    #: checked by :meth:`load_state_dict` and required once the group has stepped.
    group_state_checks: ClassVar[dict[str, Callable[[str, Any], None]]] = {}

    def __init__(
        self,
        params: Any,
        defaults: dict[str, Any],
        *,
        backend: str | None = None,
        nonfinite: str = "raise",
    ):
        if nonfinite not in _NONFINITE:
            raise ValueError(
                f"invalid nonfinite={nonfinite!r}: expected one of {_NONFINITE}"
            )
        self.nonfinite = nonfinite
        self.skipped_steps = 0
        self.defaults = dict(defaults)
        for name, value in self.defaults.items():
            self._check(name, value)
        self._requested_backend = backend
        self._grouped = _is_group_list(params)
        self.param_groups: list[dict[str, Any]] = []
        self._trees: list[ParamTree] = []
        self._backends: list[Any] = []
        self._validated: list[dict[str, Any]] = []
        self._scheduled: list[bool] = []
        self._rules: dict[int, Any] = {}  # each group's rule while its values hold
        self.group_state: list[dict[str, Any]] = []
        self.state: dict[str, dict[str, Any]] = {}
        self._step_count = 0
        for given in list(params) if self._grouped else [{"params": params}]:
            self.add_param_group(given)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a torch-style group ``{"params": ..., <hyperparameter>: value}``.

        A group added after some steps starts its own step count at 0, so its bias
        corrections and first-step rules are those of a fresh optimizer, as torch
        keeps them per parameter.
        """
        unknown = [k for k in group if k != "params" and k not in self.defaults]
        if unknown:
            raise ValueError(
                f"unknown hyperparameter(s) {unknown} for "
                f"{type(self).__name__}; known: {sorted(self.defaults)}"
            )
        index = len(self.param_groups)
        prefix = f"{index}." if self._grouped or index > 0 else ""
        tree = ParamTree.build(group["params"], prefix=prefix)
        taken = {n for g in self.param_groups for n in g["names"]}
        clash = [n for n in tree.names if n in taken]
        if clash:
            raise ValueError(f"parameter names {clash} appear in two groups")
        check_distinct(
            [(n, p) for g in self.param_groups for n, p in zip(g["names"], g["params"])],
            list(zip(tree.names, tree.arrays)),
        )
        given = {k: tuple(v) if isinstance(v, list) else v for k, v in group.items()}
        values = {**self.defaults, **{k: v for k, v in given.items() if k != "params"}}
        for name, value in values.items():
            if name in group:
                self._check(name, value)
            for pname, p in zip(tree.names, tree.arrays):
                for v in value if isinstance(value, tuple) else (value,):
                    V.broadcastable(name, v, pname, p)
        if tree.flat is not None and any(
            V.is_array(V.first_value(v)) for v in self._flat_values(values)
        ):
            raise ValueError(
                "array-valued hyperparameters are not supported on a "
                "FlatParams (its buffers mix arrays); use a dict of arrays"
            )
        self.check_group(values)
        _step.library_mismatch(tree.names, tree.arrays)
        backend = self._backend_for(tree)
        self.param_groups.append({"params": tree.arrays, "names": tree.names, **values})
        self._trees.append(tree)
        self._backends.append(backend)
        self._validated.append(dict(values))
        self._scheduled.append(
            any(
                callable(v) or (type(v) is tuple and any(map(callable, v)))
                for v in values.values()
            )
        )
        self.group_state.append({"step": 0})

    def _backend_for(self, tree: ParamTree):
        """Resolve the group's backend. float16 cannot run on Numba (no float16
        arithmetic there): ``auto`` then takes the NumPy path with one warning per
        parameter name; an explicit ``"numba"`` raises naming the parameter."""
        backend = resolve_backend(self._requested_backend, tree.arrays[0])
        if backend.spec.float16:
            return backend
        half = [
            n for n, p in zip(tree.names, tree.arrays) if dtype_name(p.dtype) == "float16"
        ]
        if not half:
            return backend
        if (self._requested_backend or get_backend()) == "auto":
            if half[0] not in _warned_half:
                _warned_half.add(half[0])
                warnings.warn(
                    f"parameter {half[0]!r} is float16: the {backend.name} backend has no "
                    f"float16 arithmetic, so this group takes the slower numpy path "
                    f"(pass float32 parameters for the fused kernels)",
                    RuntimeWarning,
                    stacklevel=4,
                )
            return resolve_backend("numpy", tree.arrays[0])
        raise TypeError(
            f"parameter {half[0]!r} is float16, which the {backend.name} backend cannot "
            f"update (no float16 arithmetic); use backend='numpy' or float32 parameters"
        )

    def check_group(self, values: dict[str, Any]) -> None:
        """Checks that involve several hyperparameters of one group (none by default).

        Called for every group added, at a step whose values changed, and for every
        group restored by :meth:`load_state_dict`; raise ``ValueError`` naming the
        values.
        """

    @staticmethod
    def _flat_values(values: dict[str, Any]):
        for v in values.values():
            yield from (v if isinstance(v, tuple) else (v,))

    def _check(self, name: str, value: Any) -> None:
        validator = self.checks.get(name)
        if validator is not None:
            validator(name, value)

    @property
    def backend(self) -> str:
        """The backend of the first group (all groups, when they agree)."""
        return self._backends[0].name

    @property
    def step_count(self) -> int:
        """Number of applied steps so far."""
        return self._step_count

    # ------------------------------------------------------------------ subclass API
    def rule_for(self, values: dict[str, Any]) -> Rule:
        """The update rule (with its flags) for a group whose hyperparameters have
        ``values``."""
        raise NotImplementedError

    def host_hypers(
        self, values: dict[str, Any], t: int, group_state: dict[str, Any]
    ) -> dict[str, Any]:
        """The rule's keyword arguments at the group's step ``t`` (1-based), computed on
        the host. May update ``group_state`` (kept only if the step is applied)."""
        raise NotImplementedError

    def state_names(self, values: dict[str, Any]) -> tuple[str, ...]:
        """The state arrays each parameter of a group with ``values`` keeps."""
        return tuple(self.rule_for(values).state)

    def init_state(self, name: str, param: Any, values: dict[str, Any]) -> Any:
        """A fresh state array ``name`` for ``param`` (zeros unless overridden)."""
        return zeros_like(param)

    # ------------------------------------------------------------------ stepping
    def _match(self, grads: Any) -> list[list[Any]]:
        """Gradients aligned with every group's arrays; all checks before any write."""
        return match_gradients(self._trees, self._grouped, grads)

    def _values(self, group: dict[str, Any], t: int) -> dict[str, Any]:
        """The group's hyperparameters at applied-step count ``t`` (schedules called)."""
        return {k: V.resolve(group[k], t) for k in self.defaults}

    def step(self, grads: Any) -> bool:
        """Apply one update in place. ``grads`` mirrors the ``params`` structure.

        All or nothing: every check (gradients, writability, each group's
        hyperparameters at this step, the finite check) runs before the first write;
        host-side counters move only after every kernel ran.

        Returns
        -------
        bool
            True when the update was applied; False when it was skipped because a
            gradient was not finite and ``nonfinite="skip"``.

        Raises
        ------
        NonFiniteGradientError
            With ``nonfinite="raise"`` (the default), naming the parameter, the step
            and the number of non-finite values; nothing is modified.
        ValueError, TypeError
            Bad gradients, a read-only parameter, or a hyperparameter (a schedule's
            value at this step, or a value written into ``param_groups``) that is
            invalid: the message names it; nothing is modified.
        """
        per_group = self._match(grads)
        plans = _step.plan_step(self, per_group)
        checked = self.nonfinite != "propagate"
        done = _step.checked_step(self, plans) if checked else None
        if done is None:  # no fused check-and-update: check everything, then write
            done = not checked or _step.grads_finite(self, plans)
            if done:
                _step.apply_step(self, plans)
        if not done:
            self.skipped_steps += 1
        return done

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """Plain, backend-neutral data: NumPy arrays, numbers, names.

        Schedules (callables) are stored by their ``state_dict()`` when they have one,
        else as ``None`` (the current schedule is kept on load).
        """
        groups = []
        for group in self.param_groups:
            entry = {"names": list(group["names"])}
            for k in self.defaults:
                entry[k] = self._hyper_to_plain(group[k])
            groups.append(entry)
        return {
            "format": _FORMAT,
            "optimizer": type(self).__name__,
            "step": self._step_count,
            "skipped_steps": self.skipped_steps,
            "state": {
                n: {k: _to_host(a) for k, a in s.items()} for n, s in self.state.items()
            },
            "group_state": [
                {k: _to_host(v) for k, v in gs.items()} for gs in self.group_state
            ],
            "param_groups": groups,
        }

    def _hyper_to_plain(self, value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(self._hyper_to_plain(v) for v in value)
        if callable(value):
            return value.state_dict() if hasattr(value, "state_dict") else None
        return _to_host(value)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`: all or nothing.

        Everything is checked before anything is written (step counts, names, every
        hyperparameter, state array, group state and schedule state); an error is a
        ``ValueError``/``TypeError`` naming the key path, e.g. ``param_groups[0].lr``.
        """
        from optkit.optim._state import load_optimizer_state

        load_optimizer_state(self, state_dict)

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        """Pickle/deepcopy without the resolved backends (modules): resolved again."""
        state = dict(self.__dict__)
        state["_backends"] = [b.name for b in self._backends]
        state["_rules"] = {}  # looked up again at the next step
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._rules = {}
        self._backends = [
            resolve_backend(name, tree.arrays[0])
            for name, tree in zip(state["_backends"], self._trees)
        ]

    def __repr__(self) -> str:
        lines = [
            f"{type(self).__name__} (backend={self.backend!r}, step={self._step_count})"
        ]
        for i, group in enumerate(self.param_groups):
            hp = ", ".join(f"{k}={group[k]!r}" for k in self.defaults)
            lines.append(f"  group {i}: {len(group['params'])} arrays; {hp}")
        return "\n".join(lines)
