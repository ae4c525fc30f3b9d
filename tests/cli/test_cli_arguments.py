"""The ``optkit`` command: bounded arguments, usage errors without tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from optkit import cli
from optkit.bench import cli as bench_cli
from optkit.bench import table as bench_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("16777216", 1 << 24),
        ("2^24", 1 << 24),
        ("2**10", 1024),
        ("1e6", 10**6),
        ("2^34", 1 << 34),
        ("1^999999999999", 1),
        (" 7 ", 7),
    ],
)
def test_sizes_that_parse(text, value):
    assert cli._size(text) == value


BAD_ARGUMENTS = [
    (["--size", "9^99999999"], "--size: size '9^99999999' is larger than the maximum 2^34"),
    (["--size", "2^35"], "larger than the maximum"),
    (["--size", "17179869185"], "size must be between 1 and 2^34"),
    (["--size", "1e400"], "not a size"),
    (["--size", "9" * 5000], "not a size"),
    (["--size", "nan"], "not a size"),
    (["--size", "2.5"], "not a size"),
    (["--size", "0"], "size must be between 1 and 2^34"),
    (["--size", "-3"], "size must be between 1 and 2^34"),
    (["--size", "2^-1"], "must be >= 1"),
    (["--size", "2^3^4"], "not a size"),
    (["--min-time", "1e9"], "--min-time: must be in [0.001, 60.0]"),
    (["--min-time", "nan"], "--min-time: must be in"),
    (["--min-time", "-1"], "--min-time: must be in"),
    (["--min-time", "soon"], "--min-time: not a float"),
    (["--dtype", "float16"], "--dtype: invalid choice"),
    (["--backend", "tpu"], "--backend: invalid choice"),
    (["lbfgs"], "invalid choice: 'lbfgs'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGUMENTS)
def test_bad_arguments_are_usage_errors(args, message, capsys, monkeypatch):
    monkeypatch.setattr(bench_cli, "run_step", _never_run)
    with pytest.raises(SystemExit) as info:
        cli.main(["bench", *args])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: optkit bench")
    assert message in err
    assert "Traceback" not in err


def _never_run(*args, **kwargs):
    raise AssertionError("the benchmark ran despite a bad argument")


def test_huge_power_is_refused_at_once_in_a_real_process():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "optkit", "bench", "--size", "9^99999999"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "larger than the maximum 2^34" in out.stderr
    assert "Traceback" not in out.stderr


def test_out_of_memory_is_reported_without_a_traceback(capsys, monkeypatch):
    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(bench_table, "run_rows", no_memory)
    assert cli.main(["bench", "--size", "2^34", "--backend", "numpy"]) == 1
    err = capsys.readouterr().err
    assert "not enough memory" in err and "17179869184" in err


def test_a_small_benchmark_runs(capsys):
    args = ["bench", "sgd", "--size", "2^8", "--backend", "numpy", "--min-time", "0.001"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "sgd" in out and "256" in out and "numpy" in out


def test_info_and_no_command(capsys):
    assert cli.main(["info"]) == 0
    assert "numpy" in capsys.readouterr().out
    assert cli.main([]) == 2
