"""The kernel calls of a step: which members of a bucket each call updates, the call,
and the counters afterwards (see :mod:`optkit.torch._layout`)."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["Run", "advance", "grad_of", "launch", "runs"]


class Run(NamedTuple):
    """One kernel call: members ``lo:hi`` of a bucket (their flat buffers when
    ``flat``, else the one tensor ``lo``)."""

    lo: int
    hi: int
    flat: bool
    rule: Any
    names: tuple
    lifted: list
    after: dict  # host state after the step
    t: int  # the members' step number (from 1)


def runs(bucket: Any, per_element: bool):
    """``(lo, hi, flat, key)`` for each kernel call of a bucket, where ``key`` is
    ``(step, *host state)`` of the members ``lo:hi``."""
    steps, host = bucket.steps_np, list(bucket.host.values())
    live = [g is not None for g in bucket.grads]
    n = len(live)
    flat = bucket.p_flat is not None and bucket.g_flat is not None and not per_element
    if flat and steps.min() == steps.max() and all(h.min() == h.max() for h in host):
        yield 0, n, True, (float(steps[0]), *(float(h[0]) for h in host))
        return
    lo = current = None
    for i in range(n + 1):
        key = (float(steps[i]), *(float(h[i]) for h in host)) if i < n else None
        if lo is not None and (not flat or i == n or not live[i] or key != current):
            yield lo, i, flat, current
            lo = None
        if i < n and live[i] and lo is None:
            lo, current = i, key


def grad_of(bucket: Any, run: Run) -> Any:
    if not run.flat:
        return bucket.g_arrays[run.lo]
    return bucket.g_flat[bucket.offsets[run.lo] : bucket.offsets[run.hi]]


def launch(bucket: Any, run: Run) -> None:
    update = bucket.backend.executor.update
    if not run.flat:
        i = run.lo
        states = tuple(bucket.state_arrays[n][i] for n in run.names)
        update(run.rule, bucket.p_arrays[i], bucket.g_arrays[i], states, run.lifted)
        return
    a, b = bucket.offsets[run.lo], bucket.offsets[run.hi]
    if a == 0 and b == bucket.offsets[-1]:
        p, g, states = bucket.p_flat, bucket.g_flat, bucket.state_flat
        update(run.rule, p, g, tuple(states[n] for n in run.names), run.lifted)
        return
    states = tuple(bucket.state_flat[n][a:b] for n in run.names)
    update(run.rule, bucket.p_flat[a:b], bucket.g_flat[a:b], states, run.lifted)


def advance(bucket: Any, runs: list) -> None:
    """Step counts and host state after the kernels ran."""
    for run in runs:
        bucket.steps_np[run.lo : run.hi] += 1
        for key, value in run.after.items():
            bucket.host[key][run.lo : run.hi] = value
