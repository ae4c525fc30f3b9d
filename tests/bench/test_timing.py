"""optkit.bench.timing: interleaved rounds, ratios, spinner, stolen CPU time."""

from __future__ import annotations

import io
import time

from optkit.bench import timing


def test_interleaved_gives_each_contender_the_same_rounds():
    calls = {"fast": 0, "slow": 0}

    def fast():
        calls["fast"] += 1

    def slow():
        calls["slow"] += 1
        time.sleep(0.001)

    times = timing.interleaved({"fast": fast, "slow": slow}, rounds=4, min_time=0.003)
    assert [len(t) for t in times.values()] == [4, 4]
    assert calls["fast"] == calls["slow"]  # the same number of calls per batch
    assert timing.median_ratio(times["slow"], times["fast"]) > 1.0
    assert min(times["slow"]) >= 0.001


def test_ratios():
    assert timing.median_ratio([4.0, 6.0, 100.0], [2.0, 2.0, 2.0]) == 3.0
    assert timing.best_ratio([4.0, 6.0, 100.0], [2.0, 1.0, 8.0]) == 4.0


def test_time_call_and_median_time():
    assert 0.0005 < timing.time_call(lambda: time.sleep(0.001), 0.002, 2) < 0.05
    assert 0.0005 < timing.median_time(lambda: time.sleep(0.001), 3, warmup=0) < 0.05


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_spinner_on_a_terminal_only():
    terminal = _Terminal()
    with timing.Spinner("timing numba", stream=terminal, interval=0.01):
        time.sleep(0.05)
    text = terminal.getvalue()
    assert "timing numba" in text and text.endswith("\r")  # erased at the end
    pipe = io.StringIO()
    with timing.Spinner("timing numba", stream=pipe, interval=0.01):
        time.sleep(0.03)
    assert pipe.getvalue() == ""


def test_cpu_steal():
    with timing.CpuSteal() as steal:
        sum(range(10000))
    assert steal.fraction is None or 0.0 <= steal.fraction <= 1.0
