"""A parameter group's hyperparameters at a step: numbers, flags, schedules, tensors.

A group value may be a number or flag (what torch's schedulers write), a schedule
(``t -> value``, evaluated at the optimizer's applied-step count), a 0-d tensor (read
as a number) or a tensor with dimensions (a per-element hyperparameter, viewed as an
array of the executor's library without a copy). The optkit optimizer class's own
validators check every value, so a bad value raises before anything is written.
"""

from __future__ import annotations

from typing import Any

import torch

from optkit.optim import _validate as V

__all__ = [
    "TORCH_KEYS",
    "GroupValues",
    "check_devices",
    "flat",
    "is_scheduled",
    "named",
    "placeholder",
    "plain",
]

#: Keywords of torch's optimizers that optkit accepts and keeps in every group.
TORCH_KEYS = {"foreach": None, "fused": None, "capturable": False, "differentiable": False}
#: Group entries torch itself or its schedulers keep (never hyperparameters).
BOOKKEEPING = {"params", "param_names", "initial_lr", "max_lr", "min_lr"}
BOOKKEEPING |= {"base_momentum", "max_momentum", *TORCH_KEYS}


def is_scheduled(raw: Any) -> bool:
    """True for a schedule, or a tuple holding one (``betas=(schedule, 0.999)``)."""
    return callable(raw) or (type(raw) is tuple and any(map(callable, raw)))


def _live(raw: Any) -> bool:
    """True when the value must be read again at every step (schedules, tensors)."""
    if isinstance(raw, (tuple, list)):
        return any(map(_live, raw))
    return callable(raw) or isinstance(raw, torch.Tensor)


def plain(value: Any, bridge: Any) -> Any:
    """A value as the optkit optimizer takes it: 0-d tensors as numbers, tensors with
    dimensions as arrays sharing their memory, tuples element by element."""
    if isinstance(value, (tuple, list)):
        return tuple(plain(v, bridge) for v in value)
    if isinstance(value, torch.Tensor):
        if value.ndim == 0:
            return value.item()
        if value.dtype not in (torch.float16, torch.float32, torch.float64):
            raise TypeError(
                f"a tensor hyperparameter must be float16/32/64, got {value.dtype}"
            )
        return bridge.array(value)
    return value


def _at(value: Any, t: int) -> Any:
    if callable(value):
        return value(t)
    if isinstance(value, (tuple, list)):
        return tuple(_at(v, t) for v in value)
    return value


class GroupValues:
    """Resolve and validate one group's hyperparameters (cached while unchanged).

    Parameters
    ----------
    core : optkit.Optimizer
        The optkit optimizer whose validators (``checks``, ``check_group``) apply.
    names : iterable of str
        The hyperparameters (the optkit optimizer's ``defaults``).
    """

    def __init__(self, core: Any, names: Any):
        self.core = core
        self.names = tuple(names)
        self._raw: tuple | None = None
        self._values: dict[str, Any] | None = None

    def check(self, values: dict[str, Any], params: list, labels: list[str]) -> None:
        """Every validator on ``values`` (numbers or arrays), and broadcasting of
        array values to each parameter; raises naming the value."""
        for name in self.names:
            value = values[name]
            self.core._check(name, value)
            for label, p in zip(labels, params):
                for v in value if isinstance(value, tuple) else (value,):
                    V.broadcastable(name, v, label, p)
        self.core.check_group(values)

    def at(self, group: dict, t: int, bridge: Any, labels: list[str]) -> dict[str, Any]:
        """The group's values at applied-step count ``t``, validated. Values neither
        scheduled, tensors, nor changed since the last call are not checked again."""
        raw = tuple(group[k] for k in self.names)
        cached = self._raw
        if cached is not None and all(map(_same, raw, cached)) and not any(map(_live, raw)):
            return self._values
        values = {k: plain(_at(v, t), bridge) for k, v in zip(self.names, raw)}
        try:
            self.check(values, group["params"], labels)
        except (TypeError, ValueError) as exc:
            if any(map(is_scheduled, raw)):
                raise type(exc)(f"{exc} (schedule value at step {t})") from None
            raise
        self._raw, self._values = raw, values
        return values


def _same(a: Any, b: Any) -> bool:
    return a is b


def placeholder(value: Any) -> Any:
    """A stand-in the optkit constructor accepts for a value it checks later:
    tensors become numbers (their first element)."""
    if isinstance(value, (tuple, list)):
        return tuple(placeholder(v) for v in value)
    if isinstance(value, torch.Tensor):
        return value.reshape(-1)[0].item() if value.numel() else 0.0
    return value


def named(params: Any, index: int) -> tuple[list, list[str]]:
    """The group's tensors and their labels (torch's names, else ``<group>.<i>``)."""
    if isinstance(params, torch.Tensor):
        params = [params]
    elif isinstance(params, set):
        raise TypeError("parameters must be an ordered collection, not a set")
    params = list(params)
    if not params:
        raise ValueError(f"group {index} has no parameters")
    if all(isinstance(p, tuple) for p in params):
        return [p for _, p in params], [str(n) for n, _ in params]
    return params, [f"{index}.{i}" for i in range(len(params))]


def check_devices(group: dict, names: tuple, params: list, index: int) -> None:
    """Tensor hyperparameters with dimensions live on the group's (one) device."""
    for name in names:
        for v in flat([group[name]]):
            if isinstance(v, torch.Tensor) and v.ndim:
                devices = {p.device for p in params}
                if devices != {v.device}:
                    raise ValueError(
                        f"group {index}: hyperparameter {name} is a tensor on {v.device} "
                        f"but the group's parameters are on {sorted(map(str, devices))}"
                    )


def flat(values: Any):
    """Every value, the elements of tuples (``betas``) one by one."""
    for v in values:
        yield from (v if isinstance(v, tuple) else (v,))
