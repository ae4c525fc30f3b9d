"""One optimizer step, all or nothing: plan (every check), then write, then count.

:func:`plan_step` does everything that can fail — gradient structure, shapes, dtypes
and libraries, writability of every parameter, each group's hyperparameters at this
step (schedules evaluated for every group and validated like constructor arguments:
finite, of the right kind and sign), the rule, its host values, per-group host state
— without modifying anything. :func:`apply_step` then creates missing state arrays,
runs the kernels, and only after all writes advances the host-side counters (step
counts, NAdam's product), so that a caller who catches an error and retries never
applies an update twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from optkit._exec import count_nonfinite, host_values
from optkit._host import library_of, writable
from optkit.errors import NonFiniteGradientError
from optkit.optim import _validate as V
from optkit.rules import Rule

__all__ = ["GroupPlan", "apply_step", "plan_step"]


@dataclass(slots=True)
class GroupPlan:
    """What one group's update will do (computed before anything is written)."""

    index: int
    rule: Rule
    values: list[Any]  # the rule's lifted host values
    params: list[Any]
    grads: list[Any]
    names: list[str]
    hyper_values: dict[str, Any]
    group_state: dict[str, Any]  # the group's host state after this step
    revalidated: bool  # some hyperparameter was checked anew (schedule or new value)


def _resolved(opt: Any, index: int, group: dict, t: int) -> tuple[dict[str, Any], bool]:
    """The group's hyperparameters at applied-step count ``t`` (0-based), validated;
    and whether any was (re)validated. Values neither scheduled nor changed since the
    last applied step were validated then and are reused as they are."""
    seen = opt._validated[index]
    if not opt._scheduled[index] and all(group[k] is v for k, v in seen.items()):
        return seen, False
    values, changed = {}, False
    for name in opt.defaults:
        raw = group[name]
        scheduled = callable(raw) or (type(raw) is tuple and any(map(callable, raw)))
        value = V.resolve(raw, t) if scheduled else raw
        values[name] = value
        if scheduled or seen.get(name, _MISSING) is not raw:
            changed = True
            try:
                opt._check(name, value)
            except (TypeError, ValueError) as exc:
                where = f"; schedule value at step {t}" if scheduled else " (param_groups)"
                raise type(exc)(
                    f"group {index}: {exc}{where}, nothing was updated"
                ) from None
            for pname, p in zip(group["names"], group["params"]):
                for v in value if isinstance(value, tuple) else (value,):
                    V.broadcastable(name, v, pname, p)
    if changed:
        opt.check_group(values)
    return values, changed


_MISSING = object()


def _check_writable(names: list[str], params: list[Any]) -> None:
    for name, p in zip(names, params):
        reason = writable(p)
        if reason:
            raise ValueError(f"parameter {name!r} cannot be updated in place: {reason}")


def plan_step(opt: Any, per_group: list[list[Any]]) -> list[GroupPlan]:
    """Every group's plan at the next step; raises before anything is modified."""
    t = opt._step_count  # schedules see the applied-step count, from 0
    plans = []
    for index, (group, grads) in enumerate(zip(opt.param_groups, per_group)):
        _check_writable(group["names"], group["params"])
        values, changed = _resolved(opt, index, group, t)
        rule = opt._rules.get(index) if not changed else None
        if rule is None:  # the rule depends on the values only: reused while unchanged
            rule = opt.rule_for(values)
        state = dict(opt.group_state[index])
        step = state.get("step", opt._step_count) + 1
        host = opt.host_hypers(values, step, state)
        state["step"] = step
        plans.append(
            GroupPlan(
                index,
                rule,
                host_values(rule, host),
                group["params"],
                grads,
                group["names"],
                values,
                state,
                changed,
            )
        )
    return plans


def grads_finite(opt: Any, plans: list[GroupPlan]) -> bool:
    """False (``nonfinite="skip"``) or raise when a gradient holds NaN/inf."""
    for plan in plans:
        count = opt._backends[plan.index].executor.count_nonfinite
        for name, g in zip(plan.names, plan.grads):
            bad = count(g)
            if bad:
                return _nonfinite(opt, plan, name, g, bad)
    return True


def _nonfinite(opt: Any, plan: GroupPlan, name: str, g: Any, bad: int) -> bool:
    """False for ``nonfinite="skip"``; else raise naming the parameter (or view)."""
    if opt.nonfinite == "skip":
        return False
    backend, tree = opt._backends[plan.index], opt._trees[plan.index]
    if tree.flat is not None:  # name the view, not the buffer
        name, bad = _bad_view(backend, tree, name, g)
    raise NonFiniteGradientError(name, opt._step_count + 1, bad)


def checked_step(opt: Any, plans: list[GroupPlan]) -> bool | None:
    """The finite check and the update in one kernel call where the executor offers
    it (one group of one parameter whose state exists): True when applied, False when
    skipped (or raise), None when the case does not apply."""
    if len(plans) != 1 or len(plans[0].params) != 1:
        return None
    plan = plans[0]
    fused = getattr(opt._backends[plan.index].executor, "update_checked", None)
    entry = opt.state.get(plan.names[0])
    if fused is None or entry is None:
        return None
    try:
        states = tuple([entry[s] for s in plan.rule.state])
    except KeyError:
        return None
    g = plan.grads[0]
    bad = fused(plan.rule, plan.params[0], g, states, plan.values)
    if bad is None:
        return None
    if bad:
        return _nonfinite(opt, plan, plan.names[0], g, bad)
    _advance(opt, plans)
    return True


def _bad_view(backend: Any, tree: Any, name: str, g: Any) -> tuple[str, int]:
    key = tree.keys[tree.names.index(name)]
    for view_name, (dtype, offset, shape) in tree.flat.layout.items():
        if dtype == key:
            bad = count_nonfinite(backend, g[offset : offset + math.prod(shape)])
            if bad:
                return view_name, bad
    return name, count_nonfinite(backend, g)


def apply_step(opt: Any, plans: list[GroupPlan]) -> None:
    """Create missing state, run every kernel, then advance the host-side counters."""
    for plan in plans:
        backend = opt._backends[plan.index]
        update = backend.executor.update
        names = plan.rule.state
        for name, p, g in zip(plan.names, plan.params, plan.grads):
            try:
                entry = opt.state[name]
                states = tuple([entry[s] for s in names])
            except KeyError:  # the first step (or a rule that keeps new state)
                entry = opt.state.setdefault(name, {})
                for s in names:
                    if s not in entry:
                        entry[s] = opt.init_state(s, p, plan.hyper_values)
                states = tuple([entry[s] for s in names])
            update(plan.rule, p, g, states, plan.values)
    _advance(opt, plans)


def _advance(opt: Any, plans: list[GroupPlan]) -> None:
    """After every write: the host-side counters and the cached rules and values."""
    for plan in plans:
        opt.group_state[plan.index] = plan.group_state
        opt._rules[plan.index] = plan.rule
        if plan.revalidated:
            group = opt.param_groups[plan.index]
            opt._validated[plan.index] = {k: group[k] for k in opt.defaults}
            opt._scheduled[plan.index] = any(
                callable(v) or (type(v) is tuple and any(map(callable, v)))
                for v in opt._validated[plan.index].values()
            )
    opt._step_count += 1


def library_mismatch(names: list[str], arrays: list[Any]) -> None:
    """Raise naming the first array whose library differs from the first one's."""
    first = arrays[0]
    for name, a in zip(names, arrays):
        if type(a) is not type(first):
            raise TypeError(
                f"parameter {name!r} is a {type(a).__module__}.{type(a).__name__} but "
                f"{names[0]!r} is a {type(first).__module__}.{type(first).__name__} "
                f"({library_of(first)}); one group holds one array library"
            )
