"""The asv suite's shape: backend first, the quick subset, the in-process runner."""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from optkit.bench.asv_results import load_results

asv_runner = pytest.importorskip("asv_runner")
ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "asv_bench" / "benchmarks"
QUICK = "^quick"  # the README's pattern: asv run -b ^quick


@pytest.fixture(scope="module")
def benchmarks():
    from asv_runner._aux import update_sys_path
    from asv_runner.discovery import disc_benchmarks

    update_sys_path(str(SUITE))
    return list(disc_benchmarks(str(SUITE)))


def _kernel(name: str) -> str:
    return ".".join(name.split(".")[-2:])


def test_backend_is_the_first_parameter_everywhere(benchmarks):
    parameterized = [b for b in benchmarks if b.params]
    assert len(parameterized) > 20
    for b in parameterized:
        assert b.param_names[0] == "backend", b.name


def test_quick_subset_covers_every_kernel_and_backend_at_one_size(benchmarks):
    names = [b.name for b in benchmarks]
    quick = {b.name: b for b in benchmarks if re.search(QUICK, b.name)}
    assert all(n.startswith("quick.") for n in quick)
    full = {_kernel(b.name): b for b in benchmarks
            if b.name.startswith("bench_") and b.type == "time"}  # fmt: skip
    for kernel in ["OptimizerStep.time_step", "BatchNorm.time_forward_backward",
                   "LayerNorm.time_forward_backward", "ClipByGlobalNorm.time_clip",
                   "SmallStep.time_step", "ManyTensors.time_adam_step",
                   "Population.time_population"]:  # fmt: skip
        q = quick[f"quick.{kernel}"]
        assert q.params[0] == full[kernel].params[0], kernel  # every backend
        assert q.param_names == full[kernel].param_names
        assert all(len(p) == 1 for p in q.params[2:]), kernel  # one size, one dtype
    step = quick["quick.OptimizerStep.time_step"]
    assert len(step.params[1]) == len(full["OptimizerStep.time_step"].params[1])
    assert len(names) == len(set(names))


def test_target_tracks_share_no_setup_cache(benchmarks):
    keys = {b.setup_cache_key for b in benchmarks if "Targets" in b.name}
    assert len(keys) == 2  # Targets (numba) and TargetsGpu (cupy) measure separately


def test_config_forks_one_process_per_benchmark():
    text = (ROOT / "asv_bench" / "asv.conf.json").read_text()
    assert '"launch_method": "forkserver"' in text


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_new_machines_results_are_ignored_by_git():
    def ignored(path):
        return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0

    assert ignored("asv_bench/results/some-new-box/machine.json")
    assert not ignored("asv_bench/results/dev-2core/machine.json")
    assert not ignored("asv_bench/results/benchmarks.json")


@pytest.fixture(scope="module")
def run_here():
    spec = importlib.util.spec_from_file_location(
        "run_here", ROOT / "tools" / "asv_run_here.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_in_process_runner_writes_asv_result_files(run_here, tmp_path, benchmarks):
    results = tmp_path / "results"
    select = r"quick\.SmallStep\.time_step\('(numpy|cupy|roofline)'"
    args = [
        "--machine",
        "box",
        "--commit",
        "abc1234",
        "--results",
        str(results),
        "-b",
        select,
    ]
    assert run_here.main(args) == 0
    assert run_here.main([*args[:-1], r"quick\.Population.*'numpy'"]) == 0  # adds to it
    data = json.loads((results / "box" / "abc1234-existing-py"
                       f"{sys.version_info[0]}.{sys.version_info[1]}.json").read_text())  # fmt: skip
    row = data["results"]["quick.SmallStep.time_step"]
    backends = [p.strip("'") for p in row[1][0]]
    values = dict(zip(backends, row[0]))
    assert values["numpy"] > 0 and values["roofline"] > 0 and values["numba"] is None
    assert "quick.Population.time_population" in data["results"]
    by_name = {b.name: b for b in benchmarks}
    assert row[2] == by_name["quick.SmallStep.time_step"].version  # asv's own version hash
    machine = json.loads((results / "box" / "machine.json").read_text())
    assert machine["machine"] == "box" and "gpu" in machine
    suite = json.loads((results / "benchmarks.json").read_text())
    assert suite["quick.SmallStep.time_step"]["param_names"] == ["backend", "optimizer"]
    records, _ = load_results(results)
    assert {r.param("backend") for r in records if r.kernel == "SmallStep.time_step"} >= {
        "numpy", "roofline"}  # fmt: skip
    asv_results = pytest.importorskip("asv.results")
    loaded = asv_results.Results.load(str(next((results / "box").glob("abc1234-*.json"))))
    assert loaded.commit_hash == "abc1234"


def test_runner_selection_is_asvs(run_here, benchmarks):
    step = next(b for b in benchmarks if b.name == "quick.OptimizerStep.time_step")
    chosen = run_here.selected(step, [r"\('(cupy|torch-cuda[a-z-]*|roofline-cuda)'"])
    combos = list(itertools.product(*step.params))
    assert {combos[i][0] for i in chosen} == {
        "'cupy'",
        "'torch-cuda-fused'",
        "'roofline-cuda'",
    }
    assert run_here.selected(step, ["^bench_"]) is None
    with pytest.raises(SystemExit):
        run_here.parse_args(["--commit", "not-a-hash"])
