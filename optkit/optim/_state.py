"""Loading an optimizer's ``state_dict``: validate everything, then copy in place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import array_api_compat
import numpy as np

from optkit.optim import _validate as V
from optkit.params import check_saved


def _like(value: Any, param: Any) -> Any:
    """A new C-contiguous array of ``param``'s library and device holding ``value``.

    Always a copy: the optimizer never shares memory with the state_dict it loaded.
    """
    xp = array_api_compat.array_namespace(param)
    if type(param).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy.array(value, order="C", copy=True)
    if isinstance(param, np.ndarray):
        return np.array(value, order="C", copy=True)
    return xp.asarray(np.array(value, copy=True), device=array_api_compat.device(param))


def load_optimizer_state(opt: Any, sd: Mapping[str, Any]) -> None:
    """Check ``sd`` against ``opt`` (type, groups, names, shapes, dtypes); then load."""
    if not isinstance(sd, Mapping) or "state" not in sd or "param_groups" not in sd:
        raise ValueError("not an optimizer state_dict (missing 'state'/'param_groups')")
    kind = sd.get("optimizer")
    if kind is not None and kind != type(opt).__name__:
        raise ValueError(f"state_dict is from {kind}, not {type(opt).__name__}")
    groups = sd["param_groups"]
    if len(groups) != len(opt.param_groups):
        raise ValueError(
            f"state_dict has {len(groups)} parameter groups, optimizer has "
            f"{len(opt.param_groups)}"
        )
    params = {}
    for i, (saved, group) in enumerate(zip(groups, opt.param_groups)):
        if list(saved["names"]) != list(group["names"]):
            raise ValueError(
                f"group {i}: state_dict names {list(saved['names'])} differ "
                f"from the optimizer's {list(group['names'])}"
            )
        params.update(zip(group["names"], group["params"]))
    unknown = [n for n in sd["state"] if n not in params]
    if unknown:
        raise ValueError(f"state_dict has state for unknown parameters {unknown}")
    for name, entries in sd["state"].items():
        p = params[name]
        for key, value in entries.items():
            check_saved(f"state {name!r}.{key}", value, p)
    step = int(sd.get("step", 0))
    new_values, schedule_loads = [], []
    for saved, group in zip(groups, opt.param_groups):
        values = {}
        for k in opt.defaults:
            if k in saved:
                values[k] = _merge_hyper(
                    group[k], saved[k], group["params"][0], schedule_loads
                )
                opt._check(k, values[k])
        new_values.append(values)
        opt.check_group({**group, **values})
        if step > 0:
            _check_state_keys(opt, sd["state"], group, values, step)
    group_state = sd.get("group_state")
    if (group_state is None and step > 0) or (
        group_state is not None and len(group_state) != len(groups)
    ):
        raise ValueError(
            f"state_dict group_state has {None if group_state is None else len(group_state)}"
            f" entries for {len(groups)} parameter groups"
        )
    _load_schedules(schedule_loads)  # all or nothing
    # ---- everything checked: now write
    opt.state.clear()
    for name, entries in sd["state"].items():
        opt.state[name] = {k: _like(v, params[name]) for k, v in entries.items()}
    for group, values in zip(opt.param_groups, new_values):
        group.update(values)
    opt.group_state[:] = [dict(gs) for gs in group_state or [{}] * len(groups)]
    opt._step_count = step
    opt.skipped_steps = int(sd.get("skipped_steps", 0))


def _load_schedules(loads: list) -> None:
    """Load every schedule's saved state, or none: on an error, restore the others."""
    backups = [(schedule, schedule.state_dict()) for schedule, _ in loads]
    try:
        for schedule, saved in loads:
            schedule.load_state_dict(saved)
    except Exception:
        for schedule, state in backups:
            schedule.load_state_dict(state)
        raise


def _check_state_keys(opt: Any, state: Mapping, group: dict, values: dict, step: int):
    """After ``step`` applied steps every parameter has the state its rule keeps."""
    resolved = opt._values({**group, **values}, step - 1)
    expected = opt.rule_for(resolved).state
    for name in group["names"]:
        missing = [k for k in expected if k not in state.get(name, {})]
        if missing:
            raise ValueError(
                f"state_dict has no state {missing} for parameter {name!r} after "
                f"{step} steps ({opt.rule_for(resolved).name} keeps {list(expected)})"
            )


def _merge_hyper(current: Any, saved: Any, param: Any, schedule_loads: list) -> Any:
    """The value to restore: schedules keep their object (their saved state is queued
    in ``schedule_loads``), arrays come back on the parameter's library, numbers as
    they were saved."""
    if isinstance(current, tuple):
        return tuple(
            _merge_hyper(c, s, param, schedule_loads) for c, s in zip(current, saved)
        )
    if callable(current):
        if saved is not None and hasattr(current, "load_state_dict"):
            schedule_loads.append((current, saved))
        return current
    if V.is_array(saved) or hasattr(saved, "shape"):
        return _like(saved, param) if V.is_array(saved) else saved
    return saved
