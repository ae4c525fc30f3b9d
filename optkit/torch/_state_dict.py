"""torch-format state dicts of :mod:`optkit.torch`'s optimizers: save, check, load.

The dict is torch's (``state`` keyed by parameter index with torch's state names,
``param_groups`` with the hyperparameters), so torch's optimizer of the same
algorithm loads it, and it loads torch's. optkit adds one entry, ``"optkit"``: the
applied-step count (what schedules see), skipped steps, and the state of every
schedule in the groups (a scheduled hyperparameter is saved as its current value,
which is what a torch optimizer loading the dict will use).

Loading checks everything before anything is written; state tensors are copied
(the optimizer never shares memory with the dict it loaded).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from optkit._schedule_base import Schedule, load_all_or_none
from optkit.torch._devices import bridge_for, scalar_dtype
from optkit.torch._hypers import GroupValues, is_scheduled, plain

__all__ = ["FORMAT", "check", "save", "unshared"]

FORMAT = "optkit.torch/1"


def _at(raw: Any, t: int) -> Any:
    if callable(raw):
        return raw(t)
    if isinstance(raw, (tuple, list)):
        return tuple(_at(v, t) for v in raw)
    return raw


def _schedule_state(raw: Any) -> Any:
    if isinstance(raw, tuple):
        return [_schedule_state(v) for v in raw]
    if callable(raw) and hasattr(raw, "state_dict"):
        return raw.state_dict()
    return None


def save(opt: Any, sd: dict[str, Any]) -> dict[str, Any]:
    """Complete torch's ``state_dict`` with scheduled values and the optkit entry."""
    schedules = []
    for packed, group in zip(sd["param_groups"], opt.param_groups):
        saved = {}
        for name in opt._hyper_names:
            if is_scheduled(group[name]):
                packed[name] = _at(group[name], opt._applied)
                saved[name] = _schedule_state(group[name])
        schedules.append(saved)
    sd["optkit"] = {
        "format": FORMAT,
        "optimizer": type(opt).__name__,
        "step": opt._applied,
        "skipped_steps": opt.skipped_steps,
        "schedules": schedules,
    }
    return sd


def unshared(state: Mapping) -> defaultdict:
    """The state with every tensor copied into its own storage (for pickling: views of
    one buffer would each carry the whole buffer)."""
    out: defaultdict = defaultdict(dict)
    for p, entry in state.items():
        out[p] = {
            k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in entry.items()
        }
    return out


def _count(path: str, value: Any) -> int:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{path} is {value!r}: expected a step count")
    if not (math.isfinite(value) and value >= 0 and float(value).is_integer()):
        raise ValueError(f"{path} is {value!r}: expected an integer >= 0")
    return int(value)


def _extra(opt: Any, sd: Mapping) -> dict[str, Any]:
    """The optkit entry, checked (defaults for a dict saved by torch)."""
    extra = sd.get("optkit")
    n = len(opt.param_groups)
    if extra is None:
        return {"step": None, "skipped_steps": 0, "schedules": [{}] * n}
    if not isinstance(extra, Mapping) or extra.get("format") != FORMAT:
        raise ValueError(f"optkit entry: not an {FORMAT!r} entry")
    if extra.get("optimizer") != type(opt).__name__:
        raise ValueError(
            f"optkit.optimizer: state_dict is from {extra.get('optimizer')}, "
            f"not {type(opt).__name__}"
        )
    schedules = extra.get("schedules")
    if not isinstance(schedules, Sequence) or len(schedules) != n:
        raise ValueError(f"optkit.schedules: expected a list of {n} dicts")
    return {
        "step": _count("optkit.step", extra.get("step")),
        "skipped_steps": _count("optkit.skipped_steps", extra.get("skipped_steps", 0)),
        "schedules": schedules,
    }


def check(opt: Any, sd: Any) -> tuple[dict[str, Any], Any]:
    """Check ``sd`` against ``opt`` completely. Returns the dict for torch's loader and
    a function that finishes the load (copies, step counts, schedule states)."""
    if not isinstance(sd, Mapping) or "state" not in sd or "param_groups" not in sd:
        raise ValueError("not an optimizer state_dict (missing 'state'/'param_groups')")
    if not isinstance(sd["state"], Mapping):
        raise TypeError(f"state is a {type(sd['state']).__name__}, expected a dict")
    saved_groups = sd["param_groups"]
    if not isinstance(saved_groups, Sequence) or len(saved_groups) != len(opt.param_groups):
        raise ValueError(
            f"state_dict has {len(saved_groups) if isinstance(saved_groups, Sequence) else saved_groups!r} "
            f"parameter groups, the optimizer has {len(opt.param_groups)}"
        )
    extra = _extra(opt, sd)
    params = _params(opt, saved_groups)
    steps = _states(opt, sd["state"], params)
    t = extra["step"] if extra["step"] is not None else max(steps, default=0)
    groups, loads = [], []
    for i, (saved, group) in enumerate(zip(saved_groups, opt.param_groups)):
        groups.append(_group(opt, i, saved, group, t, extra["schedules"][i], loads))
    processed = {"state": sd["state"], "param_groups": groups}
    kept = [
        {k: g[k] for k in opt._hyper_names if is_scheduled(g[k])} for g in opt.param_groups
    ]

    def finish() -> None:
        for group, schedules in zip(opt.param_groups, kept):
            group.update(schedules)  # torch's loader deep-copied them
        _own_state(opt)
        load_all_or_none(loads)
        opt._applied, opt.skipped_steps = t, extra["skipped_steps"]

    return processed, finish


def _params(opt: Any, saved_groups: Sequence) -> dict[Any, Any]:
    """Saved parameter id -> this optimizer's parameter."""
    out = {}
    for i, (saved, group) in enumerate(zip(saved_groups, opt.param_groups)):
        ids = saved.get("params") if isinstance(saved, Mapping) else None
        if not isinstance(ids, Sequence) or len(ids) != len(group["params"]):
            raise ValueError(
                f"param_groups[{i}].params: expected {len(group['params'])} parameter "
                f"ids, got {ids!r}"
            )
        out.update(zip(ids, group["params"]))
    return out


def _states(opt: Any, state: Mapping, params: dict) -> list[int]:
    """Check every state entry; returns the saved step counts."""
    steps = []
    checks = getattr(opt._core, "group_state_checks", {})
    for key, entry in state.items():
        path = f"state[{key!r}]"
        if key not in params:
            raise ValueError(f"{path}: no parameter has id {key!r} in param_groups")
        if not isinstance(entry, Mapping):
            raise TypeError(f"{path} is a {type(entry).__name__}, expected a dict")
        p = params[key]
        for name, value in entry.items():
            where = f"{path}.{name}"
            if name == "step":
                steps.append(_count(where, value))
            elif name in opt.host_state_init:
                checks[name](where, float(value))
            elif isinstance(value, torch.Tensor):
                if tuple(value.shape) != tuple(p.shape) or not value.is_floating_point():
                    raise ValueError(
                        f"{where} is {value.dtype} {tuple(value.shape)}: expected a "
                        f"floating tensor of the parameter's shape {tuple(p.shape)}"
                    )
                if opt.nonfinite != "propagate" and not bool(torch.isfinite(value).all()):
                    raise ValueError(f"{where} holds NaN or infinity")
            elif value is not None:
                raise TypeError(f"{where} is a {type(value).__name__}, expected a tensor")
    return steps


def _group(opt, i, saved, group, t, schedules, loads) -> dict[str, Any]:
    """The group torch's loader installs: saved values over the current ones, the
    current schedules kept (their saved states queued in ``loads``)."""
    path = f"param_groups[{i}]"
    merged = {k: v for k, v in group.items() if k != "params"}
    params = group["params"]
    for k, v in saved.items():
        if k == "params" or (k in opt._hyper_names and is_scheduled(group[k])):
            continue
        if isinstance(v, torch.Tensor) and v.ndim:
            v = v.to(params[0].device)
        merged[k] = v
    if not isinstance(schedules, Mapping):
        raise TypeError(f"optkit.schedules[{i}] is not a dict")
    for name, state in schedules.items():
        if name not in opt._hyper_names or not is_scheduled(group[name]):
            continue
        parts = group[name] if isinstance(group[name], tuple) else (group[name],)
        states = state if isinstance(group[name], tuple) else [state]
        for j, (part, part_state) in enumerate(zip(parts, states)):
            if isinstance(part_state, Mapping) and hasattr(part, "load_state_dict"):
                if isinstance(part, Schedule):
                    part.check_state_dict(part_state, where=f"{path}.{name}[{j}]")
                loads.append((part, part_state))
    bridge = bridge_for(params[0].device)
    values = {k: plain(_at(merged[k], t), bridge) for k in opt._hyper_names}
    labels = opt._labels[i]
    try:
        GroupValues(opt._core, opt._hyper_names).check(values, params, labels)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{path}: {exc}; nothing was loaded") from None
    merged["params"] = list(saved["params"])
    return merged


def _own_state(opt: Any) -> None:
    """Loaded state as this optimizer keeps it: own contiguous copies, step counts as
    CPU tensors of torch's scalar dtype (1 where torch's SGD saved none)."""
    for entry in opt.state.values():
        for name in list(entry):
            value = entry[name]
            if value is None:
                del entry[name]
            elif name == "step" or name in opt.host_state_init:
                entry[name] = torch.tensor(float(value), dtype=scalar_dtype())
            elif isinstance(value, torch.Tensor):
                entry[name] = value.clone(memory_format=torch.contiguous_format)
        if entry and "step" not in entry:
            entry["step"] = torch.tensor(1.0, dtype=scalar_dtype())
