"""Timers for benchmarks on a busy machine: medians, interleaved rounds, a spinner.

Absolute times on a shared machine drift from run to run; ratios of contenders timed
in turn, in one process, do not. :func:`interleaved` runs every contender once per
round (a batch of calls each), so that a burst of load from another process hits all
of them alike, and :func:`median_ratio` takes the median of the per-round ratios.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TextIO

__all__ = [
    "Spinner",
    "best_ratio",
    "calls_per_sample",
    "CpuSteal",
    "interleaved",
    "median_ratio",
    "median_time",
    "time_call",
]


def calls_per_sample(fn: Callable[[], Any], min_time: float) -> int:
    """How many calls of ``fn`` (already warm) take at least ``min_time`` seconds."""
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(min_time / once))


def time_call(fn: Callable[[], Any], min_time: float = 0.2, repeat: int = 5) -> float:
    """Median seconds per call: ``repeat`` batches, each at least ``min_time`` long.

    Examples
    --------
    >>> seconds = time_call(lambda: sum(range(100)), min_time=0.001, repeat=3)
    >>> 0 < seconds < 0.01
    True
    """
    fn()
    number = calls_per_sample(fn, min_time)
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


def interleaved(
    contenders: Mapping[str, Callable[[], Any]],
    rounds: int = 15,
    min_time: float = 0.005,
    sync: Callable[[], Any] | None = None,
) -> dict[str, list[float]]:
    """Seconds per call of each contender, one batch each per round, in turn.

    Each contender is warmed up; then every round calls each contender ``number``
    times in a row (waiting for GPU work once per batch with ``sync``). ``number`` is
    the same for all contenders, the smallest that makes every batch last at least
    ``min_time``: a kernel whose data a large cache still holds from its previous
    call is faster, and equal batches give every contender the same share of such
    calls. Returns ``{name: [seconds per call, one per round]}``.

    Examples
    --------
    >>> times = interleaved({"a": lambda: None, "b": lambda: None}, rounds=3)
    >>> sorted(times), len(times["a"])
    (['a', 'b'], 3)
    """
    wait = sync or (lambda: None)
    numbers = []
    for fn in contenders.values():
        fn()
        fn()
        wait()
        numbers.append(calls_per_sample(lambda fn=fn: (fn(), wait()), min_time))
    number = min(numbers)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            wait()
            times[name].append((time.perf_counter() - t0) / number)
    return times


def median_ratio(numerator: list[float], denominator: list[float]) -> float:
    """The median over rounds of ``numerator[i] / denominator[i]``.

    Examples
    --------
    >>> median_ratio([2.0, 2.2, 9.0], [1.0, 1.0, 1.0])
    2.2
    """
    return statistics.median(a / b for a, b in zip(numerator, denominator))


def best_ratio(numerator: list[float], denominator: list[float]) -> float:
    """``min(numerator) / min(denominator)``: each side at its least disturbed round.

    Examples
    --------
    >>> best_ratio([2.0, 2.2, 9.0], [1.5, 1.0, 1.0])
    2.0
    """
    return min(numerator) / min(denominator)


def _cpu_times() -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs from /proc/stat, or None off Linux."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


class CpuSteal:
    """Fraction of CPU time the hypervisor gave to other machines while in the block.

    On a shared virtual machine a parallel loop waits for its slowest thread, so a
    few percent of stolen time can stretch a step by milliseconds. ``fraction`` is
    None where /proc/stat is not available.

    Examples
    --------
    >>> with CpuSteal() as steal:
    ...     pass
    >>> steal.fraction is None or 0.0 <= steal.fraction <= 1.0
    True
    """

    def __enter__(self) -> CpuSteal:
        self._start = _cpu_times()
        self.fraction: float | None = None
        return self

    def __exit__(self, *exc: object) -> None:
        end = _cpu_times()
        if self._start is None or end is None:
            return
        total = end[1] - self._start[1]
        self.fraction = (end[0] - self._start[0]) / total if total > 0 else 0.0


class Spinner:
    """A one-line spinner on a terminal while something runs (silent otherwise).

    ``with Spinner("timing numba"):`` shows ``| timing numba  1.2 s`` on ``stream``
    (standard error) and erases it at the end; when ``stream`` is not a terminal
    nothing is written.

    Examples
    --------
    >>> import io
    >>> stream = io.StringIO()           # not a terminal: stays silent
    >>> with Spinner("working", stream=stream):
    ...     pass
    >>> stream.getvalue()
    ''
    """

    def __init__(self, label: str, stream: TextIO | None = None, interval: float = 0.1):
        self.label, self.interval = label, interval
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _spin(self) -> None:
        start = time.monotonic()
        for frame in itertools.cycle("|/-\\"):
            if self._stop.wait(self.interval):
                break
            elapsed = time.monotonic() - start
            self.stream.write(f"\r{frame} {self.label}  {elapsed:.1f} s ")
            self.stream.flush()

    def __enter__(self) -> Spinner:
        if self.enabled:
            self._thread = threading.Thread(target=self._spin, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.stream.write("\r" + " " * (len(self.label) + 16) + "\r")
            self.stream.flush()
