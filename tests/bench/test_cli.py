"""``optkit bench`` and ``optkit info``: output, options, usage errors."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from optkit.bench import machine
from optkit.bench.cli import route
from optkit.cli import main

ROOT = Path(__file__).resolve().parents[2]
HAS_CUPY = importlib.util.find_spec("cupy") is not None
FAST = ["--size", "2^10", "--min-time", "0.001", "--repeat", "1"]


def test_bench_json(capsys):
    assert main(["bench", "sgd", *FAST, "--backend", "numpy", "--backend", "roofline",
                 "--json"]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert data["optimizer"] == "sgd" and data["size"] == 1024
    assert data["bytes_per_step"] == 3 * 1024 * 4
    rows = {r["backend"]: r for r in data["rows"]}
    assert set(rows) == {"numpy", "roofline"}
    assert rows["roofline"]["roofline_fraction"] == 1.0
    assert rows["numpy"]["seconds"] > 0 and rows["numpy"]["roofline_fraction"] > 0


def test_bench_table_lists_backends_here_and_missing_ones(capsys, tmp_path):
    png = tmp_path / "adam.png"
    assert main(["bench", "adam", *FAST, "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    head, _, table = out.partition("adam: 1,024 float32 parameters")
    assert head.startswith("backends here: numpy, numba")
    rows = table.splitlines()[2:]  # below the column titles
    timed = [line.split()[0] for line in rows if not line.startswith("chart:")]
    assert timed[0] == "roofline" and {"numpy", "numba"} <= set(timed)
    assert all(machine.backend_reason(b) == "" for b in timed)  # only backends here
    if not HAS_CUPY:
        assert "missing cupy: cupy is not installed; pip install 'optkit[cuda12]'" in head
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "2^40"], "between 1 and 2^34"),
        (["--size", "2^99999999"], "between 1 and 2^34"),
        (["--size", "0"], "between 1 and 2^34"),
        (["--size", "lots"], "not a size"),
        (["--size", "inf"], "not a size"),
        (["--min-time", "0"], "must be in"),
        (["--min-time", "nan"], "must be in"),
        (["--repeat", "1000"], "must be in"),
        (["nope"], "invalid choice"),
        (["--backend", "tpu"], "invalid choice"),
    ],
)
def test_usage_errors_without_traceback(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", *args])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and "Traceback" not in err


def test_targets_and_report_options_are_bounded(capsys):
    for args in (["targets", "--rounds", "0"], ["targets", "--only", "everything"]):
        with pytest.raises(SystemExit):
            main(["bench", *args])
        assert "Traceback" not in capsys.readouterr().err


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed here")
def test_asking_for_a_missing_backend_says_what_to_install(capsys):
    assert main(["bench", *FAST, "--backend", "cupy"]) == 2
    err = capsys.readouterr().err
    assert "cupy is not available here" in err and "pip install 'optkit[cuda12]'" in err
    assert main(["bench", "targets", "--backend", "cupy"]) == 2


def test_targets_json(capsys):
    assert main(["bench", "targets", "--only", "overhead", "--rounds", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    keys = {t["key"] for t in data["targets"]}
    assert {
        "small_step_us_raise",
        "small_step_us_propagate",
        "many_tensors_speedup",
    } <= keys
    assert all({"value", "goal", "holds", "best"} <= set(t) for t in data["targets"])


def test_route_defaults_to_step():
    assert route(["bench"]) == ["bench", "step"]
    assert route(["bench", "--size", "2^20"]) == ["bench", "step", "--size", "2^20"]
    assert route(["bench", "targets"]) == ["bench", "targets"]
    assert route(["--version"]) == ["--version"]


def test_report_without_results_is_a_usage_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "report", "--out", str(tmp_path / "r")]) == 2
    assert "no asv results folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["bench", "report", "--results", str(tmp_path / "empty")]) == 1
    assert "no asv result files" in capsys.readouterr().err


def test_info_lists_gpus_and_install_hints():
    out = subprocess.run(
        [sys.executable, "-m", "optkit", "info"], capture_output=True, text=True, check=True,
        cwd=ROOT,
    ).stdout  # fmt: skip
    assert "GPU 0:" in out or "no CUDA device" in out
    if not HAS_CUPY:
        assert "install: pip install 'optkit[cuda12]'" in out


def test_gpu_lines_from_cupy(monkeypatch):
    class Runtime:
        @staticmethod
        def getDeviceCount():
            return 2

        @staticmethod
        def driverGetVersion():
            return 12080

        @staticmethod
        def runtimeGetVersion():
            return 12060

        @staticmethod
        def getDeviceProperties(i):
            return {"name": b"NVIDIA H200", "totalGlobalMem": 150_000_000_000}

    fake = type(sys)("cupy")
    fake.cuda = type(sys)("cupy.cuda")
    fake.cuda.runtime = Runtime
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: name == "cupy" or None
    )
    lines = machine.gpu_lines()
    assert lines == [f"GPU {i}: NVIDIA H200, 139.7 GiB, driver 12.8, runtime 12.6 (CuPy)"
                     for i in range(2)]  # fmt: skip


def test_gpu_lines_without_any_probe(monkeypatch):
    for probe in ("_gpus_from_cupy", "_gpus_from_torch", "_gpus_from_nvidia_smi"):
        monkeypatch.setattr(machine, probe, lambda: None)
    assert machine.gpu_lines()[0].startswith("no CUDA device")


def test_pip_extras_named_in_hints_exist():
    text = (ROOT / "pyproject.toml").read_text()
    for hint in machine.INSTALL_HINTS.values():
        if "optkit[" in hint:
            for extra in hint.split("optkit[")[1:]:
                assert f"\n{extra.split(']')[0]} = [" in text, hint
