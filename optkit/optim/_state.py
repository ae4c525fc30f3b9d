"""Loading an optimizer's ``state_dict``: validate everything, then write.

Nothing is written until the whole dict has passed: the header (kind, format, step
counts), every parameter group (names, hyperparameters: type, range, finiteness,
broadcastability to the group's parameters, cross-checks), every state array (type,
shape, dtype, finiteness), every group's host state (per-group step count and the
optimizer's own entries, e.g. NAdam's ``mu_product``) and every schedule state. An
error is a ``ValueError`` or ``TypeError`` whose message starts with the key path of
the culprit (``param_groups[0].lr``, ``state.w.exp_avg``, ``group_state[1].step``).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import array_api_compat
import numpy as np

from optkit._checks import at, count, finite, is_array, key
from optkit._schedule_base import Schedule, load_all_or_none
from optkit.optim import _validate as V
from optkit.params import check_saved

_FORMAT = "optkit.optimizer/1"
_ENTRIES = ("format", "optimizer", "step", "skipped_steps", "state", "group_state")
_ENTRIES += ("param_groups",)


def unit_closed(name: str, value: Any) -> None:
    """A finite real number or floating array in ``[0, 1]`` (e.g. a running product
    of factors in [0, 1), such as NAdam's ``mu_product``)."""
    if isinstance(value, (bool, np.bool_)) or not (
        isinstance(value, numbers.Real) or is_array(value)
    ):
        raise TypeError(f"{value!r} is not a number or an array")
    if is_array(value) and not isinstance(value, np.generic):
        xp = array_api_compat.array_namespace(value)
        if not xp.isdtype(value.dtype, "real floating"):
            raise TypeError(f"has dtype {value.dtype}, expected a real floating dtype")
    if not finite(value) or not V.holds(value, lambda v: (v >= 0) & (v <= 1)):
        raise ValueError(f"{_show(value)} must be finite and in [0, 1]")


def _show(value: Any) -> str:
    return f"array of shape {tuple(value.shape)}" if V.is_array(value) else repr(value)


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


@dataclass
class _Plan:
    """Everything a valid state_dict writes, collected before any write."""

    step: int = 0
    skipped: int = 0
    values: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    group_state: list[dict[str, Any]] = field(default_factory=list)
    schedules: list[tuple[Any, Any]] = field(default_factory=list)


def load_optimizer_state(opt: Any, sd: Mapping[str, Any]) -> None:
    """Check ``sd`` against ``opt`` completely; only then load it."""
    plan = _Plan()
    _header(opt, sd, plan)
    params = _groups(opt, sd, plan)
    _states(opt, sd, params, plan)
    _group_states(opt, sd, plan)
    _check_schedules(plan.schedules)
    # ---- everything checked: now write
    _load_schedules(plan.schedules)  # all or nothing (restored on an error)
    opt.state.clear()
    opt.state.update(plan.state)
    for group, values in zip(opt.param_groups, plan.values):
        group.update(values)
    opt.group_state[:] = plan.group_state
    opt._step_count = plan.step
    opt.skipped_steps = plan.skipped


def _header(opt: Any, sd: Any, plan: _Plan) -> None:
    if not isinstance(sd, Mapping) or "state" not in sd or "param_groups" not in sd:
        raise ValueError("not an optimizer state_dict (missing 'state'/'param_groups')")
    if sd.get("format", _FORMAT) != _FORMAT:
        raise ValueError(f"format is {sd['format']!r}: this optkit reads {_FORMAT!r}")
    kind = sd.get("optimizer")
    if kind is not None and kind != type(opt).__name__:
        raise ValueError(f"state_dict is from {kind}, not {type(opt).__name__}")
    plan.step = count("step", sd.get("step", 0))
    plan.skipped = count("skipped_steps", sd.get("skipped_steps", 0))
    for name in ("state", "param_groups"):
        kind_ok = Mapping if name == "state" else Sequence
        if not isinstance(sd[name], kind_ok) or isinstance(sd[name], str):
            raise TypeError(
                f"{name} is a {type(sd[name]).__name__}, expected a "
                f"{'dict' if name == 'state' else 'list'}"
            )
    unknown = [k for k in sd if k not in _ENTRIES]
    if unknown:
        raise ValueError(f"state_dict has unknown entries {unknown}")


def _groups(opt: Any, sd: Mapping, plan: _Plan) -> dict[str, Any]:
    """Validate every saved group; collect the values to set. Returns name -> param."""
    groups = sd["param_groups"]
    if len(groups) != len(opt.param_groups):
        raise ValueError(
            f"state_dict has {len(groups)} parameter groups, optimizer has "
            f"{len(opt.param_groups)}"
        )
    params: dict[str, Any] = {}
    for i, (saved, group) in enumerate(zip(groups, opt.param_groups)):
        path = f"param_groups[{i}]"
        if not isinstance(saved, Mapping):
            raise TypeError(f"{path} is a {type(saved).__name__}, expected a dict")
        names = saved.get("names")
        if (
            isinstance(names, str)
            or not isinstance(names, Sequence)
            or list(names) != list(group["names"])
        ):
            raise ValueError(
                f"{path}.names: state_dict names {names!r} differ from the optimizer's "
                f"{list(group['names'])}"
            )
        unknown = [k for k in saved if k != "names" and k not in opt.defaults]
        if unknown:
            raise ValueError(f"{path} has unknown hyperparameter(s) {unknown}")
        values = {
            k: _hyper(opt, f"{path}.{k}", k, group[k], saved[k], group, plan.schedules)
            for k in opt.defaults
            if k in saved
        }
        with at(path):
            opt.check_group({**group, **values})
        plan.values.append(values)
        params.update(zip(group["names"], group["params"]))
    return params


def _hyper(opt: Any, path: str, name: str, current: Any, saved: Any, group, loads) -> Any:
    """The value a saved hyperparameter restores, after every check on it."""
    if isinstance(current, tuple):
        if not isinstance(saved, (tuple, list)) or len(saved) != len(current):
            raise ValueError(f"{path} is {saved!r}: expected {len(current)} values")
        merged = tuple(
            _value(opt, f"{path}[{j}]", name, c, s, group, loads)
            for j, (c, s) in enumerate(zip(current, saved))
        )
    else:
        merged = _value(opt, path, name, current, saved, group, loads)
    with at(path):
        opt._check(name, merged)
    return merged


def _value(opt: Any, path: str, name: str, current: Any, saved: Any, group, loads) -> Any:
    """One number, flag, array or schedule state (an element of a pair, or not)."""
    if callable(current):  # the schedule object stays; its saved state is loaded
        if isinstance(saved, Mapping) and hasattr(current, "load_state_dict"):
            loads.append((current, saved, path))
        elif saved is not None and not _is_value(saved):
            raise TypeError(f"{path} is {saved!r}: expected a schedule state or None")
        return current
    if isinstance(saved, Mapping) or saved is None:
        raise TypeError(
            f"{path} is {saved!r}: a schedule state, but this optimizer's {name} is "
            f"{current!r}, not a schedule"
        )
    if not _is_value(saved):
        raise TypeError(f"{path} is {saved!r}: not a number, an array or a flag")
    if not finite(saved):
        raise ValueError(f"{path} is {_show(saved)}: not finite")
    if not V.is_array(saved):
        return saved
    if any(n.rsplit(".", 1)[-1].startswith("flat:") for n in group["names"]):
        raise ValueError(f"{path}: array hyperparameters do not apply to a FlatParams")
    for pname, p in zip(group["names"], group["params"]):
        with at(path):
            V.broadcastable(name, saved, pname, p)
    return _like(saved, group["params"][0])


def _is_value(value: Any) -> bool:
    return isinstance(value, (numbers.Real, bool)) or is_array(value)


def _states(opt: Any, sd: Mapping, params: dict[str, Any], plan: _Plan) -> None:
    """Every state array: a known parameter, an array of its shape and dtype, finite
    (unless the optimizer propagates non-finite gradients)."""
    unknown = [n for n in sd["state"] if n not in params]
    if unknown:
        raise ValueError(f"state_dict has state for unknown parameters {unknown}")
    for name, entries in sd["state"].items():
        path = f"state{key(name)}"
        if not isinstance(entries, Mapping):
            raise TypeError(f"{path} is a {type(entries).__name__}, expected a dict")
        p, loaded = params[name], {}
        for k, value in entries.items():
            where = f"{path}{key(k)}"
            if not is_array(value):
                raise TypeError(f"{where} is a {type(value).__name__}, expected an array")
            check_saved(where, value, p)
            if opt.nonfinite != "propagate" and not finite(value):
                raise ValueError(f"{where} holds NaN or infinity")
            loaded[k] = _like(value, p)
        plan.state[name] = loaded


def _group_states(opt: Any, sd: Mapping, plan: _Plan) -> None:
    """Per-group host state: a ``step`` count (<= the optimizer's) and the entries the
    optimizer declares in ``group_state_checks`` (required once the group stepped)."""
    saved = sd.get("group_state")
    n = len(opt.param_groups)
    if saved is None and plan.step == 0:
        plan.group_state = [{} for _ in range(n)]
        return
    if not isinstance(saved, Sequence) or isinstance(saved, str) or len(saved) != n:
        size = len(saved) if isinstance(saved, Sequence) else saved
        raise ValueError(f"group_state has {size!r} entries for {n} parameter groups")
    checks = getattr(opt, "group_state_checks", {})
    for i, (entry, group) in enumerate(zip(saved, opt.param_groups)):
        path = f"group_state[{i}]"
        if not isinstance(entry, Mapping):
            raise TypeError(f"{path} is a {type(entry).__name__}, expected a dict")
        unknown = [k for k in entry if k != "step" and k not in checks]
        if unknown:
            raise ValueError(f"{path} has unknown entries {unknown}")
        out = {}
        if "step" in entry:
            out["step"] = count(
                f"{path}.step",
                entry["step"],
                plan.step,
                f"the optimizer's step {plan.step}",
            )
        stepped = out.get("step", plan.step) > 0
        for k, check in checks.items():
            if k not in entry:
                if stepped:
                    raise ValueError(f"{path}.{k} is missing after a step")
                continue
            value = entry[k]
            with at(f"{path}.{k}"):
                check(k, value)
                for pname, p in zip(group["names"], group["params"]):
                    V.broadcastable(k, value, pname, p)
            out[k] = _like(value, group["params"][0]) if V.is_array(value) else value
        _check_state_keys(opt, i, plan, stepped)
        plan.group_state.append(out)


def _check_state_keys(opt: Any, index: int, plan: _Plan, stepped: bool) -> None:
    """After a step every parameter of the group has the state its rule keeps."""
    if not stepped:
        return
    group = {**opt.param_groups[index], **plan.values[index]}
    resolved = opt._values(group, max(plan.step - 1, 0))
    expected = opt.state_names(resolved)
    for name in group["names"]:
        missing = [k for k in expected if k not in plan.state.get(name, {})]
        if missing:
            raise ValueError(
                f"state{key(name)}: no state {missing} after {plan.step} steps "
                f"({type(opt).__name__} keeps {list(expected)} for this group)"
            )


def _check_schedules(loads: list) -> None:
    """Validate every saved schedule state before anything is loaded."""
    for schedule, saved, path in loads:
        if isinstance(schedule, Schedule):  # others: restored if their load fails
            schedule.check_state_dict(saved, where=path)


def _load_schedules(loads: list) -> None:
    """Load every schedule's saved state, or none: on an error, restore the others."""
    load_all_or_none([(schedule, saved) for schedule, saved, _ in loads])
