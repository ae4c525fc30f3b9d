"""Where a group's parameters, gradients and state live, and which kernel calls a step makes.

A group's parameters that have a gradient (or already have state) are *members*;
they are split into *buckets* by device and dtype. Each bucket keeps its state in
one buffer per state name, the per-parameter state entries being views of it
(``state[p]["exp_avg"]``), its step counts in one CPU buffer (``state[p]["step"]``
are 0-d views), and host-side per-parameter values such as NAdam's ``mu_product``
likewise. When the members' parameters lie end to end in one storage (a model
flattened by :func:`optkit.torch.flatten_`, or any such layout) and so do their
gradients, a step over them is one kernel call on the whole buffers; otherwise one
call per tensor. Consecutive members with the same step count form one *run* (one
call); members without a gradient are skipped, as torch skips them.

The layout is built at the first step and rebuilt when it no longer describes the
group (new members, replaced ``p.data``, state entries replaced by the user, a rule
needing more state, a loaded state dict); a per-step check of a few identities and
pointers decides.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import torch

from optkit._backend import resolve_backend
from optkit.torch._devices import bridge_for, scalar_dtype, span

__all__ = ["Bucket", "GroupLayout", "build_layout"]

_DATA_PTR = torch.Tensor.data_ptr


@dataclass
class Bucket:
    """The members of one group on one device with one dtype (see module docstring)."""

    params: list[Any]
    labels: list[str]
    bridge: Any
    backend: Any
    offsets: list[int]  # element offsets of the members in the state buffers
    p_arrays: list[Any]
    p_flat: Any | None  # one array over every member's parameter, or None
    state_flat: dict[str, Any]  # torch state name -> array over the state buffer
    state_arrays: dict[str, list[Any]]  # torch state name -> per-member arrays
    steps: Any  # CPU tensor (members,)
    steps_np: Any
    host: dict[str, Any]  # host-state name -> NumPy view of a CPU tensor (members,)
    entries: list[dict]  # state[p] of each member
    checks: tuple[list, list, list]  # entries, names, tensors: entry[name] is tensor
    ptrs: list[int]
    grads: list[Any] = field(default_factory=list)
    g_arrays: list[Any] = field(default_factory=list)
    g_flat: Any | None = None

    @property
    def device(self) -> Any:
        return self.params[0].device

    def valid(self) -> bool:
        """True while the parameters and state entries are those it was built on
        (C-level loops: a few microseconds per hundred parameters)."""
        if list(map(_DATA_PTR, self.params)) != self.ptrs:
            return False
        entries, names, tensors = self.checks
        return all(map(operator.is_, map(dict.get, entries, names), tensors))

    def refresh_grads(self, grads: list[Any], homes: Any) -> None:
        """Array views of the members' gradients (after a change of any of them).

        When the parameters form one buffer but the gradients do not, and the
        parameters were flattened with a gradient home each, the gradients are copied
        into their homes and ``p.grad`` points there again (one kernel call per step).
        """
        if self.p_flat is not None and all(g is not None for g in grads):
            if span(grads) is None and all(p in homes for p in self.params):
                for p, g in zip(self.params, grads):
                    home = homes[p][0]
                    if g is not home:
                        home.copy_(g)
                        p.grad = home
                grads = [p.grad for p in self.params]
        with self.bridge.launch(self.device):
            self.g_arrays = [None if g is None else self.bridge.array(g) for g in grads]
            whole = span(grads) if all(g is not None for g in grads) else None
            self.g_flat = None if whole is None else self.bridge.array(whole)
        self.grads = grads

    def same_grads(self, grads: list[Any]) -> bool:
        return len(grads) == len(self.grads) and all(map(operator.is_, grads, self.grads))


@dataclass
class GroupLayout:
    """Every bucket of one group, and what the layout was built on."""

    buckets: list[Bucket]
    members: set[int]  # id() of the member parameters
    names: tuple[str, ...]  # the torch state names homed
    state: Any  # the optimizer's state mapping it was built on
    grads: list[Any] = field(default_factory=list)  # every parameter's grad last step

    def valid(self, opt_state: Any, names: tuple[str, ...]) -> bool:
        return (
            opt_state is self.state
            and set(names) <= set(self.names)
            and all(b.valid() for b in self.buckets)
        )


def build_layout(opt: Any, group: dict, labels: list[str], values: dict, rule: Any):
    """Home the state of ``group``'s members into per-bucket buffers (copying what
    exists, creating what is missing) and return the :class:`GroupLayout`."""
    names = tuple(opt._torch_name(s) for s in rule.state)
    keyed: dict[tuple, list[int]] = {}
    for i, p in enumerate(group["params"]):
        if p.grad is not None or opt.state.get(p):
            keyed.setdefault((p.device, p.dtype), []).append(i)
    buckets = []
    for indices in keyed.values():
        params = [group["params"][i] for i in indices]
        with bridge_for(params[0].device).launch(params[0].device):
            buckets.append(
                _bucket(opt, params, [labels[i] for i in indices], values, rule, names)
            )
    members = {id(p) for b in buckets for p in b.params}
    return GroupLayout(buckets, members, names, opt.state)


def _bucket(opt, params, labels, values, rule, names) -> Bucket:
    bridge = bridge_for(params[0].device)
    p_arrays = [bridge.array(p) for p in params]
    backend = resolve_backend(opt._backend_name, p_arrays[0])
    whole = span(params)
    offsets = [0]
    for p in params:
        offsets.append(offsets[-1] + p.numel())
    entries = [opt.state[p] for p in params]
    checks: list[tuple[dict, str, Any]] = []
    state_flat, state_arrays = {}, {}
    core_names = dict(zip(names, rule.state))
    for name in names:
        buffer = torch.empty(offsets[-1], dtype=params[0].dtype, device=params[0].device)
        flat = bridge.array(buffer)
        per = []
        for p, a, entry, lo, hi in zip(params, p_arrays, entries, offsets, offsets[1:]):
            view = buffer[lo:hi].view(p.shape)
            region = flat[lo:hi].reshape(tuple(p.shape))
            old = entry.get(name)
            if isinstance(old, torch.Tensor) and old.shape == p.shape:
                view.copy_(old)
            else:
                region[...] = opt._core.init_state(core_names[name], a, values)
            entry[name] = view
            checks.append((entry, name, view))
            per.append(region)
        state_flat[name], state_arrays[name] = flat, per
    steps, host = _counters(opt, params, entries, checks)
    return Bucket(
        params, labels, bridge, backend, offsets, p_arrays,
        None if whole is None else bridge.array(whole), state_flat, state_arrays,
        steps, steps.numpy(), host, entries, tuple(map(list, zip(*checks))),
        list(map(_DATA_PTR, params)),
    )  # fmt: skip


def _counters(opt, params, entries, checks) -> tuple[Any, dict[str, Any]]:
    """The step buffer and host-state buffers of a bucket (CPU, torch's scalar dtype),
    holding what the entries had; the entries then point at 0-d views of them."""
    dtype = scalar_dtype()
    steps = torch.tensor([_number(e.get("step"), 0.0) for e in entries], dtype=dtype)
    for i, entry in enumerate(entries):
        entry["step"] = steps[i]
        checks.append((entry, "step", entry["step"]))
    host = {}
    for key, start in opt.host_state_init.items():
        buffer = torch.tensor([_number(e.get(key), start) for e in entries], dtype=dtype)
        for i, entry in enumerate(entries):
            entry[key] = buffer[i]
            checks.append((entry, key, entry[key]))
        host[key] = buffer.numpy()
    return steps, host


def _number(value: Any, default: float) -> float:
    if value is None:
        return default
    return float(value.item() if isinstance(value, torch.Tensor) else value)
