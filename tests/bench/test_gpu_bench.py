"""The GPU check's CPU-testable parts: tools/gpu_bench.py and tools/gpu_check.sh."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("gpu_bench", TOOLS / "gpu_bench.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(adam_fracs, vs_torch=1.1):
    rows = [
        {
            "rule": "adam",
            "exp": e,
            "n": 1 << e,
            "step_s": 1e-3,
            "step_gbs": 4000.0,
            "step_frac": f,
            "kernel_frac": f + 0.01,
            "roof_frac": 0.9,
            "torch_s": 1.1e-3,
            "vs_torch": vs_torch,
        }
        for e, f in adam_fracs.items()
    ]
    rows.append({"rule": "sgd_momentum", "exp": 20, "n": 1 << 20, "step_s": None})
    return {
        "status": "ok",
        "peak_tbs": 4.8,
        "device": "NVIDIA H200",
        "single": rows,
        "many": {
            "tensors": 200,
            "params": 7_000_000,
            "step_s": 2e-4,
            "torch_s": 5e-4,
            "vs_torch": 2.5,
        },
        "block_sizes": {"128": 0.85, "256": 0.86},
        "notes": ["torch 2.x"],
    }


def test_does_not_import_gpu_libraries_at_import(bench):
    code = f"import runpy; runpy.run_path({str(TOOLS / 'gpu_bench.py')!r}); import sys; "
    code += "assert 'cupy' not in sys.modules and 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_parse_args(bench, monkeypatch):
    monkeypatch.setenv("OUT", "/somewhere")
    args = bench.parse_args([])
    assert (args.min_exp, args.max_exp, args.peak_tbs) == (20, 28, 4.8)
    assert args.out == "/somewhere" and args.block_sizes == [128, 256, 512]
    args = bench.parse_args(["--min-exp", "12", "--max-exp", "14", "--block-sizes", "64"])
    assert (args.min_exp, args.max_exp, args.block_sizes) == (12, 14, [64])
    with pytest.raises(SystemExit):
        bench.parse_args(["--min-exp", "22", "--max-exp", "20"])


def test_effective_bandwidth(bench):
    assert bench.effective_gbs(1 << 26, 28, 0.5e-3) == pytest.approx(3758.1, rel=1e-4)
    assert bench.effective_gbs(10, 28, None) is None
    assert bench.BYTES_PER_PARAM == {"adam": 28, "sgd_momentum": 20}


def test_target_verdict(bench):
    ok = bench.target_verdict(_report({26: 0.85, 28: 0.83})["single"])
    assert ok["pass"] is True and "0.830" in ok["detail"]
    slow = bench.target_verdict(_report({26: 0.75, 28: 0.9})["single"])
    assert slow["pass"] is False
    behind = bench.target_verdict(_report({26: 0.9}, vs_torch=0.9)["single"])
    assert behind["pass"] is False and "0.900" in behind["detail"]
    assert bench.target_verdict(_report({20: 0.5})["single"])["pass"] is None


def test_format_table(bench):
    report = _report({20: 0.4, 26: 0.85})
    report["target"] = bench.target_verdict(report["single"])
    text = bench.format_table(report)
    lines = text.splitlines()
    assert "NVIDIA H200" in lines[0] and "vs torch" in lines[1]
    assert any(
        line.startswith("adam") and "2^26" in line and "0.850" in line for line in lines
    )
    assert any(line.startswith("sgd_momentum") and " - " in line for line in lines)
    assert "200 tensors" in text and "vs torch 2.50" in text
    assert "block size 256: Adam kernel frac 0.860" in text
    assert "GPU target (Adam >= 2^26): PASS" in text and "note: torch 2.x" in text


def test_refuses_politely_without_gpu(bench, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(bench, "gpu_status", lambda: (False, "no device in this test"))
    assert bench.main(["--out", str(tmp_path)]) == 2
    assert "nothing measured: no device in this test" in capsys.readouterr().out
    saved = json.loads((tmp_path / "gpu_bench.json").read_text())
    assert saved == {"status": "no-gpu", "reason": "no device in this test"}
    usable, reason = bench.gpu_status()  # the real probe answers on any machine
    assert isinstance(usable, bool) and (usable or reason)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_check_script(tmp_path):
    script = TOOLS / "gpu_check.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert "pytest -m gpu" in text and "gpu_bench.py" in text and "--no-index" in text
    assert "asv_run_here.py" in text and "asv_runner" in text
    probe = "import cupy, sys; sys.exit(cupy.cuda.runtime.getDeviceCount() == 0)"
    if subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0:
        pytest.skip("a GPU is here: the script would run the whole check")
    env = {
        **os.environ,
        "OUT": str(tmp_path),
        "OPTKIT_GPU_CHECK_NO_INSTALL": "1",
        "PYTHON": sys.executable,
    }
    proc = subprocess.run(
        ["bash", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no usable GPU" in (tmp_path / "summary.txt").read_text()
    assert "numpy" in (tmp_path / "info.txt").read_text()
