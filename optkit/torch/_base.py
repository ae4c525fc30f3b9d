"""``TorchOptimizer``: an optkit optimizer as a ``torch.optim.Optimizer`` subclass.

torch's base class provides the groups, ``zero_grad``, hooks, schedulers' access and
the state dict machinery; this class supplies ``step``, run by optkit's kernels on the
tensors' memory (see :mod:`optkit.torch._layout`), and everything the optkit optimizer
class defines (rule, host hyperparameters, state initialization, validators) comes
from that class: one definition of each algorithm.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np
import torch
from torch.autograd.graph import increment_version

from optkit.torch import _plan, _runs, _state_dict
from optkit.torch._devices import bridge_for, check_param
from optkit.torch._hypers import (
    BOOKKEEPING,
    TORCH_KEYS,
    GroupValues,
    check_devices,
    named,
    placeholder,
)
from optkit.torch.flatten import GRAD_HOMES

__all__ = ["TorchOptimizer"]

_NONFINITE = ("raise", "skip", "propagate")
_OWN = ("self", "params", "backend", "nonfinite")
#: What a pickle keeps besides torch's defaults, state and param_groups.
_PICKLED = ("_core", "_hyper_names", "nonfinite", "skipped_steps", "_applied")
_PICKLED += ("_backend_name", "_labels")


class TorchOptimizer(torch.optim.Optimizer):
    """Base of :mod:`optkit.torch`'s optimizers: an optkit optimizer class run on tensors.

    Make one with :func:`optkit.torch.wrap` (or subclass and set the class
    attributes below). The constructor is ``cls(params, <the optkit class's
    hyperparameters>, *, nonfinite, backend, foreach, fused, capturable,
    differentiable)``.

    Attributes
    ----------
    core_class : type
        The optkit optimizer class: its ``rule_for``, ``host_hypers``,
        ``init_state`` and validators define the algorithm.
    state_names : dict
        optkit state name -> torch state name (``{"m": "exp_avg", ...}``).
    host_state_init : dict
        Host-side per-parameter values kept in the state, with their initial value
        (NAdam: ``{"mu_product": 1.0}``).
    eager_state : bool
        Create the state at construction (torch's Adagrad does).
    step_count : int
        Applied steps (what schedules see); ``skipped_steps`` counts skipped ones.

    Notes
    -----
    A step updates every parameter that has a gradient, with one kernel call per
    tensor, or per dtype where parameters and gradients lie end to end in one
    buffer (:func:`optkit.torch.flatten_`). Everything that can fail is checked
    before the first write. See ``docs/torch.md``.

    Examples
    --------
    >>> import torch, optkit as ok
    >>> issubclass(ok.torch.Adam, ok.torch.TorchOptimizer), ok.torch.Adam.core_class
    (True, <class 'optkit.optim.adam.Adam'>)
    >>> ok.torch.Adam.state_names["m"]
    'exp_avg'
    """

    #: The optkit optimizer class whose rule and hyperparameters this runs.
    core_class: ClassVar[type] = None
    #: optkit state name -> torch state name (``{"m": "exp_avg", ...}``).
    state_names: ClassVar[dict[str, str]] = {}
    #: Host-side per-parameter values kept in the state, with their initial value.
    host_state_init: ClassVar[dict[str, float]] = {}
    #: Create every parameter's state at construction, as torch's Adagrad does.
    eager_state: ClassVar[bool] = False

    def __init__(
        self,
        params: Any,
        *args: Any,
        nonfinite: str = "raise",
        backend: str | None = None,
        foreach: bool | None = None,
        fused: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        **kwargs: Any,
    ):
        for name, value in (("capturable", capturable), ("differentiable", differentiable)):
            _refuse(name, value)
        if nonfinite not in _NONFINITE:
            raise ValueError(
                f"invalid nonfinite={nonfinite!r}: expected one of {_NONFINITE}"
            )
        given = self._bind(args, kwargs)
        self._core = self.core_class(
            np.zeros(1), **{k: placeholder(v) for k, v in given.items()}, backend="numpy"
        )
        self._hyper_names = tuple(self._core.defaults)
        self.nonfinite = nonfinite
        self.skipped_steps = 0
        self._applied = 0
        self._backend_name = backend
        self._group_values: list[GroupValues] = []
        self._layouts: list[Any] = []
        self._labels: list[list[str]] = []
        defaults = {**self._core.defaults, **given, **TORCH_KEYS}
        defaults.update(foreach=foreach, fused=fused)
        super().__init__(params, defaults)

    @classmethod
    def _bind(cls, args: tuple, kwargs: dict) -> dict[str, Any]:
        """The hyperparameters given, by name (positional ones in the optkit
        constructor's order)."""
        sig = inspect.signature(cls.core_class.__init__).parameters.values()
        positional = [
            p.name for p in sig if p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in _OWN
        ]
        if len(args) > len(positional):
            raise TypeError(
                f"{cls.__name__} takes at most {len(positional)} positional "
                f"hyperparameters ({', '.join(positional)}), got {len(args)}"
            )
        given = dict(zip(positional, args))
        for k, v in kwargs.items():
            if k in given:
                raise TypeError(f"{cls.__name__} got multiple values for {k!r}")
            given[k] = v
        return given

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group as torch does, after checking its tensors and values.

        A group added after some steps starts its own step counts at 0.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        unknown = [
            k for k in param_group if k not in self.defaults and k not in BOOKKEEPING
        ]
        if unknown:
            raise ValueError(
                f"unknown hyperparameter(s) {unknown} for {type(self).__name__}; "
                f"known: {sorted(self._hyper_names)}"
            )
        for name in ("capturable", "differentiable"):
            _refuse(name, param_group.get(name, False))
        index = len(self.param_groups)
        params, labels = named(param_group["params"], index)
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"group {index} lists a parameter twice")
        for label, p in zip(labels, params):
            check_param(repr(label), p)
        values = GroupValues(self._core, self._hyper_names)
        group = {**self.defaults, **param_group, "params": params}
        check_devices(group, self._hyper_names, params, index)
        with _plan.in_group(index):
            values.at(group, self._applied, bridge_for(params[0].device), labels)
        super().add_param_group(param_group)
        self._group_values.append(values)
        self._layouts.append(None)
        self._labels.append(labels)
        if self.eager_state:
            self._create_state(self.param_groups[-1], values, labels)

    def _create_state(self, group: dict, values: GroupValues, labels: list[str]) -> None:
        """Every parameter's state at step 0 (torch's Adagrad creates it eagerly)."""
        with torch.no_grad():
            bridge = bridge_for(group["params"][0].device)
            resolved = values.at(group, self._applied, bridge, labels)
            rule = self._core.rule_for(resolved)
            for p in group["params"]:
                bridge = bridge_for(p.device)
                entry = self.state[p]
                entry.setdefault("step", torch.tensor(0.0, dtype=_scalar()))
                with bridge.launch(p.device):
                    for s in rule.state:
                        made = self._core.init_state(s, bridge.array(p), resolved)
                        entry.setdefault(self._torch_name(s), bridge.tensor(made))

    def _torch_name(self, name: str) -> str:
        return self.state_names.get(name, name)

    @property
    def step_count(self) -> int:
        """Applied steps so far (skipped ones excluded); schedules see this count."""
        return self._applied

    # ------------------------------------------------------------------ stepping
    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One update of every parameter that has a gradient, in place.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (run with gradients enabled).

        Returns
        -------
        The closure's loss, or None.

        Raises
        ------
        NonFiniteGradientError
            With ``nonfinite="raise"``, naming the parameter; parameters, step counts
            and state values are unchanged.
        ValueError, TypeError
            A bad hyperparameter (e.g. a schedule's value) or gradient (sparse, ...),
            named; nothing was updated.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        checked = [_plan.check_group(self, i, g) for i, g in enumerate(self.param_groups)]
        plans = [_plan.plan_group(self, i, *c) for i, c in enumerate(checked)]
        if self.nonfinite != "propagate" and not _plan.finite(self, plans):
            self.skipped_steps += 1
            return loss
        for plan in plans:
            for bucket, runs in plan:
                with bucket.bridge.launch(bucket.device):
                    for run in runs:
                        _runs.launch(bucket, run)
        updated = []
        for plan in plans:
            for bucket, runs in plan:
                _runs.advance(bucket, runs)
                updated += [p for run in runs for p in bucket.params[run.lo : run.hi]]
        increment_version(updated)  # autograd sees the in-place update
        self._applied += 1
        return loss

    # ------------------------------------------------------------------ zero_grad
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients, as torch does, except for gradients homed by
        :func:`optkit.torch.flatten_`: those are zeroed in place (one fill per
        buffer), whatever ``set_to_none`` says, so that they stay in their buffer."""
        homed = [p for g in self.param_groups for p in g["params"] if p in GRAD_HOMES]
        if not homed:
            return super().zero_grad(set_to_none)
        buffers = {}
        for p in homed:
            home, buffer = GRAD_HOMES[p]
            buffers[id(buffer)] = buffer
            if p.grad is not home:
                p.grad = home
        for base in buffers.values():
            base.zero_()
        ids = {id(p) for p in homed}
        for group in self.param_groups:
            for p in group["params"]:
                if id(p) not in ids and p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.detach_()
                        p.grad.zero_()

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """torch's format (``state`` by index with torch's names, ``param_groups``),
        plus an ``"optkit"`` entry: the applied-step count, skipped steps and the
        schedules' states. A scheduled hyperparameter is saved as its current value."""
        return _state_dict.save(self, super().state_dict())

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict of this optimizer or of the torch optimizer of the same
        algorithm: checked completely first (group sizes, hyperparameters, state
        shapes, dtypes and step counts, schedule states), then loaded; state tensors
        are copied. Schedules in this optimizer's groups are kept (their saved state
        is loaded)."""
        processed, after = _state_dict.check(self, state_dict)
        super().load_state_dict(processed)
        after()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["state"] = _state_dict.unshared(self.state)
        state["_optkit"] = {k: self.__dict__[k] for k in _PICKLED}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        extra = state.pop("_optkit", None)
        super().__setstate__(state)
        if extra is not None:
            self.__dict__.update(extra)
        for group in self.param_groups:
            for k, v in self.defaults.items():
                group.setdefault(k, v)
        self._group_values = [
            GroupValues(self._core, self._hyper_names) for _ in self.param_groups
        ]
        self._layouts = [None] * len(self.param_groups)


def _refuse(name: str, value: Any) -> None:
    if value:
        raise NotImplementedError(
            f"{name}=True is not supported by optkit.torch (its kernels are not "
            f"{'CUDA-graph capturable' if name == 'capturable' else 'differentiable'})"
        )


def _scalar() -> torch.dtype:
    from optkit.torch._devices import scalar_dtype

    return scalar_dtype()
