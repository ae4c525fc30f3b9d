"""Quick, asv-free benchmarks: time per optimizer step, GB/s, fraction of a roofline.

The roofline is measured in the same process (docs/performance.md): a Numba loop that
reads and writes exactly as many arrays as the optimizer's rule (Adam: read p, g,
m, v; write p, m, v, "r4w3") with trivial arithmetic. Ratios to it are stable from
run to run where absolute times are not. Used by ``optkit bench``, the asv suite
(``asv_bench/``) and ``tools/bench_adam.py``.
"""

from __future__ import annotations

import functools
import importlib.util
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "OPTIMIZERS",
    "Measurement",
    "bytes_per_step",
    "make_step",
    "roofline_step",
    "run_table",
    "time_call",
]

#: name -> (optkit class name, torch class name, keyword arguments, rule name)
OPTIMIZERS: dict[str, tuple[str, str, dict[str, Any], str]] = {
    "sgd": ("SGD", "SGD", dict(lr=1e-3), "sgd"),
    "momentum": ("SGD", "SGD", dict(lr=1e-3, momentum=0.9), "sgd_momentum"),
    "nesterov": ("SGD", "SGD", dict(lr=1e-3, momentum=0.9, nesterov=True), "sgd_nesterov"),
    "adagrad": ("Adagrad", "Adagrad", dict(lr=1e-2), "adagrad"),
    "rmsprop": ("RMSprop", "RMSprop", dict(lr=1e-3), "rmsprop"),
    "adam": ("Adam", "Adam", dict(lr=1e-3), "adam"),
    "amsgrad": ("Adam", "Adam", dict(lr=1e-3, amsgrad=True), "amsgrad"),
    "adamw": ("AdamW", "AdamW", dict(lr=1e-3), "adam"),
    "nadam": ("NAdam", "NAdam", dict(lr=2e-3), "nadam"),
    "delta_bar_delta": ("DeltaBarDelta", "", dict(lr=1e-2), "delta_bar_delta"),
}

#: Backends and peers a table can show, in order.
CHOICES = ("numpy", "numba", "cupy", "torch-fused", "torch-foreach")


def _state_count(name: str) -> int:
    from optkit.optim.registry import ALGORITHMS

    opt = ALGORITHMS[name].make(np.zeros(1), backend="numpy")
    group = opt.param_groups[0]
    return len(opt.state_names({k: group[k] for k in opt.defaults}))


def bytes_per_step(name: str, n: int, itemsize: int) -> int:
    """Bytes an ideal fused step moves: read p, g and each state; write p and states."""
    states = _state_count(name)
    return (2 + states + 1 + states) * n * itemsize


@functools.cache
def _roofline_loop(reads: int, writes: int) -> Callable:
    """A parallel Numba loop reading ``reads`` arrays and writing the first ``writes``."""
    import numba

    names = [f"a{i}" for i in range(reads)]
    total = " + ".join(f"{a}[i]" for a in names)
    body = "".join(f"        {names[j]}[i] = s\n" for j in range(writes))
    source = (
        f"def loop({', '.join(names)}):\n"
        f"    for i in numba.prange(a0.shape[0]):\n"
        f"        s = {total}\n{body}"
    )
    namespace: dict[str, Any] = {"numba": numba}
    exec(compile(source, f"<optkit roofline r{reads}w{writes}>", "exec"), namespace)
    return numba.njit(parallel=True, error_model="numpy")(namespace["loop"])


def roofline_step(name: str, n: int, dtype: Any) -> Callable[[], None]:
    """A callable with the memory traffic of one ideal ``name`` step on ``n`` elements."""
    states = _state_count(name)
    # Filled, not np.zeros: pages of a fresh np.zeros array that are only read stay
    # mapped to the kernel's shared zero page and read far faster than memory.
    arrays = [np.full(n, 0.5, dtype) for _ in range(2 + states)]
    loop = _roofline_loop(2 + states, 1 + states)
    loop(*arrays)  # compile outside the timing
    return lambda: loop(*arrays)


def _available(backend: str) -> str:
    """'' when ``backend`` can run here, else the reason."""
    if backend == "numba" and importlib.util.find_spec("numba") is None:
        return "numba is not installed"
    if backend.startswith("torch") and importlib.util.find_spec("torch") is None:
        return "torch is not installed"
    if backend.startswith("torch") and importlib.util.find_spec("numba") is None:
        return "numba is not installed (torch peers use Numba's thread count)"
    if backend == "cupy":
        from optkit._backend import backends

        info = backends()["cupy"]
        return "" if info["available"] else info["reason"]
    return ""


def make_step(
    name: str, backend: str, n: int, dtype: Any = np.float32, seed: int = 0
) -> Callable[[], Any]:
    """A zero-argument callable doing one step of optimizer ``name`` on ``backend``.

    ``backend`` is an optkit backend or a torch peer (``torch-fused``,
    ``torch-foreach``). GPU work is synchronized inside the callable. Raises
    ``NotImplementedError`` (with the reason) when the combination cannot run here.
    """
    reason = _available(backend)
    if reason:
        raise NotImplementedError(reason)
    cls_name, torch_name, kwargs, _ = OPTIMIZERS[name]
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal(n).astype(dtype)
    g0 = (0.1 * rng.standard_normal(n)).astype(dtype)
    if backend.startswith("torch"):
        return _torch_step(torch_name, kwargs, backend, p0, g0)
    import optkit as ok

    if backend == "cupy":
        import cupy

        p, g = cupy.asarray(p0), cupy.asarray(g0)
        opt = getattr(ok, cls_name)(p, backend="cupy", **kwargs)
        sync = cupy.cuda.get_current_stream().synchronize

        def step():
            opt.step(g)
            sync()

        return step
    p = p0.copy()
    opt = getattr(ok, cls_name)(p, backend=backend, **kwargs)
    return functools.partial(opt.step, g0)


def _torch_step(torch_name: str, kwargs: dict, backend: str, p0, g0):
    import torch

    if not torch_name:
        raise NotImplementedError("torch has no such optimizer")
    import numba

    torch.set_num_threads(numba.get_num_threads())  # same threads as the Numba loops
    flag = backend.split("-", 1)[1]
    tp = torch.from_numpy(p0.copy())
    tp.grad = torch.from_numpy(g0.copy())
    try:
        opt = getattr(torch.optim, torch_name)([tp], **kwargs, **{flag: True})
        opt.step()
    except (RuntimeError, TypeError, ValueError) as exc:
        raise NotImplementedError(f"torch {torch_name}({flag}=True): {exc}") from exc
    return opt.step


def time_call(fn: Callable[[], Any], min_time: float = 0.2, repeat: int = 5) -> float:
    """Median seconds per call: ``repeat`` batches, each at least ``min_time`` long."""
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(min_time / once))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def median_time(fn: Callable[[], Any], repeat: int, warmup: int = 2) -> float:
    """Median wall time of single ``fn()`` calls in seconds (for calls of >~1 ms)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@dataclass
class Measurement:
    """One row of a benchmark table."""

    backend: str
    seconds: float | None
    gbps: float | None
    roofline_fraction: float | None
    note: str = ""


def run_table(
    name: str,
    n: int,
    dtype: Any = np.float32,
    backends: tuple[str, ...] = CHOICES,
    min_time: float = 0.2,
) -> tuple[float, list[Measurement]]:
    """Time ``name`` on each backend; returns (roofline seconds, rows)."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(OPTIMIZERS)}")
    dtype = np.dtype(dtype)
    nbytes = bytes_per_step(name, n, dtype.itemsize)
    roof = None
    if importlib.util.find_spec("numba") is not None:
        roof = time_call(roofline_step(name, n, dtype), min_time)
    rows = []
    for backend in backends:
        try:
            step = make_step(name, backend, n, dtype)
        except NotImplementedError as exc:
            rows.append(Measurement(backend, None, None, None, str(exc)))
            continue
        secs = time_call(step, min_time)
        rows.append(
            Measurement(backend, secs, nbytes / secs / 1e9, roof / secs if roof else None)
        )
    return roof, rows


def format_table(
    name: str, n: int, dtype: Any, roof: float | None, rows: list[Measurement]
) -> str:
    """The table ``optkit bench`` prints."""
    dtype = np.dtype(dtype)
    nbytes = bytes_per_step(name, n, dtype.itemsize)
    lines = [
        f"{name}: {n:,} {dtype.name} parameters, {nbytes / 1e6:.1f} MB per step",
        f"{'backend':<15}{'time/step':>12}{'GB/s':>9}{'of roofline':>13}",
    ]
    if roof:
        lines.append(
            f"{'roofline':<15}{_fmt_time(roof):>12}{nbytes / roof / 1e9:>9.1f}{1.0:>13.2f}"
        )
    for row in rows:
        if row.seconds is None:
            lines.append(f"{row.backend:<15}{'n/a':>12}   ({row.note})")
            continue
        frac = f"{row.roofline_fraction:.2f}" if row.roofline_fraction else "-"
        lines.append(
            f"{row.backend:<15}{_fmt_time(row.seconds):>12}{row.gbps:>9.1f}{frac:>13}"
        )
    return "\n".join(lines)


def _fmt_time(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"
