"""One step of :class:`optkit.torch.TorchOptimizer`, before anything is written: each
group's values and gradients checked, its buckets and runs planned (with the lifted
host values of each run), and the finite check over the planned runs.
"""

from __future__ import annotations

import operator
from typing import Any

from optkit._exec import host_values
from optkit.errors import NonFiniteGradientError
from optkit.torch import _runs
from optkit.torch._devices import bridge_for, check_grad
from optkit.torch._hypers import flat
from optkit.torch._layout import build_layout
from optkit.torch.flatten import GRAD_HOMES

__all__ = ["check_group", "finite", "in_group", "plan_group"]

_GRAD = operator.attrgetter("grad")


def check_group(opt: Any, index: int, group: dict) -> tuple:
    """Values and gradients of a group, checked (nothing is written). Gradients
    already seen at the last step (the same tensor objects) are not checked again."""
    params, labels = group["params"], opt._labels[index]
    grads = list(map(_GRAD, params))
    layout = opt._layouts[index]
    same = layout is not None and _identical(grads, layout.grads)
    if not same:
        seen = {id(g) for g in layout.grads} if layout is not None else set()
        for label, p, g in zip(labels, params, grads):
            if g is not None and id(g) not in seen:
                check_grad(repr(label), p, g)
    bridge = bridge_for(params[0].device)
    with in_group(index, "; nothing was updated"):
        values = opt._group_values[index].at(group, opt._applied, bridge, labels)
    return group, values, opt._core.rule_for(values), grads, same


def plan_group(opt: Any, index, group, values, rule, grads, same) -> list:
    """The group's buckets and their runs: ``[(bucket, [run, ...]), ...]``."""
    layout = opt._layouts[index]
    names = tuple(opt._torch_name(s) for s in rule.state)
    if (
        layout is None
        or (
            not same
            and any(
                g is not None and id(p) not in layout.members
                for p, g in zip(group["params"], grads)
            )
        )
        or not layout.valid(opt.state, names)
    ):
        layout = build_layout(opt, group, opt._labels[index], values, rule)
        opt._layouts[index] = layout
    layout.grads = grads
    per_element = any(hasattr(v, "shape") for v in flat(values.values()))
    memo: dict[tuple, tuple] = {}
    plan = []
    for bucket in layout.buckets:
        grads = [p.grad for p in bucket.params]
        if not bucket.same_grads(grads):
            bucket.refresh_grads(grads, GRAD_HOMES)
        runs = []
        for lo, hi, whole, key in _runs.runs(bucket, per_element):
            if key not in memo:
                memo[key] = _host(opt, values, rule, key)
            lifted, after = memo[key]
            runs.append(
                _runs.Run(lo, hi, whole, rule, names, lifted, after, int(key[0]) + 1)
            )
        plan.append((bucket, runs))
    return plan


def _host(opt: Any, values: dict, rule: Any, key: tuple) -> tuple:
    """Lifted host values of a run whose members have step ``key[0]`` and host state
    ``key[1:]``; and the host state after the step."""
    t = int(key[0]) + 1
    state = dict(zip(opt.host_state_init, key[1:])) if t > 1 else {}
    hypers = opt._core.host_hypers(values, t, state)
    return host_values(rule, hypers), state


def finite(opt: Any, plans: list) -> bool:
    """False to skip the step; raises with ``nonfinite="raise"``."""
    for plan in plans:
        for bucket, runs in plan:
            count = bucket.backend.executor.count_nonfinite
            with bucket.bridge.launch(bucket.device):
                for run in runs:
                    if not count(_runs.grad_of(bucket, run)):
                        continue
                    if opt.nonfinite == "skip":
                        return False
                    for i in range(run.lo, run.hi):
                        bad = count(bucket.g_arrays[i])
                        if bad:
                            raise NonFiniteGradientError(bucket.labels[i], run.t, bad)
    return True


class in_group:
    """Prefix errors raised inside with ``group <index>: `` (and add ``suffix``)."""

    def __init__(self, index: int, suffix: str = ""):
        self.index, self.suffix = index, suffix

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind in (TypeError, ValueError):
            raise kind(f"group {self.index}: {exc}{self.suffix}") from None
        return False


def _identical(a: list, b: list) -> bool:
    return len(a) == len(b) and all(map(operator.is_, a, b))
