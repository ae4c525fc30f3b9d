"""``optkit bench report``: the offline report from asv result files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from optkit.bench import report_data
from optkit.bench.asv_results import load_results
from optkit.bench.report import write_report
from optkit.cli import main

pytest.importorskip("matplotlib")
ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "asv_bench" / "results"
STEP = "bench_optimizers.OptimizerStep.time_step"
BACKENDS = ["numpy", "numba", "cupy", "torch-fused", "torch-foreach", "torch-cuda-fused",
            "roofline", "roofline-cuda"]  # fmt: skip


def check_offline(index: Path) -> str:
    """Every chart exists, every chart file is shown, nothing comes from a network."""
    text = index.read_text()
    sources = re.findall(r'<img[^>]*\bsrc="([^"]+)"', text)
    assert sources, "no chart in the report"
    for src in sources:
        assert (index.parent / src).is_file(), src
        assert (index.parent / src).read_bytes()[:4] == b"\x89PNG"
    charts = {p.name for p in (index.parent / "charts").glob("*.png")}
    assert charts == {Path(s).name for s in sources}
    for tag in re.findall(r"<(?:script|link|img|iframe|style)\b[^>]*>", text, re.I):
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", tag, re.I), tag
    assert "<script" not in text.lower() and "<link" not in text.lower()
    assert not re.search(r"@import|url\(\s*['\"]?(https?:)?//", text)
    return text


def test_report_from_the_committed_results(tmp_path, capsys):
    assert (
        main(["bench", "report", "--results", str(COMMITTED), "--out", str(tmp_path)]) == 0
    )
    assert capsys.readouterr().out.strip() == f"report: {tmp_path / 'index.html'}"
    text = check_offline(tmp_path / "index.html")
    assert "<h2>Summary</h2>" in text and "dev-2core" in text


def _result_file(folder: Path, commit: str, values: dict[str, list], params: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "machine.json").write_text(json.dumps(
        {"machine": folder.name, "cpu": "test CPU", "num_cpu": "2", "version": 1}))  # fmt: skip
    results = {name: [row, params[name]] for name, row in values.items()}
    (folder / f"{commit[:8]}-existing-py3.11.json").write_text(json.dumps({
        "commit_hash": commit, "env_name": "existing-py3.11", "date": 1_700_000_000_000,
        "params": {}, "python": "3.11", "requirements": {}, "result_columns": ["result", "params"],
        "results": results, "durations": {}, "version": 2,
    }))  # fmt: skip


@pytest.fixture
def two_machines(tmp_path) -> Path:
    """A CPU machine and a GPU machine measuring Adam at 2^24 float32, known times."""
    step_params = [[repr(b) for b in BACKENDS], ["'adam'"], ["16777216"], ["'float32'"]]
    results = tmp_path / "results"
    results.mkdir()
    (results / "benchmarks.json").write_text(json.dumps({
        STEP: {"param_names": ["backend", "optimizer", "size", "dtype"],
               "params": step_params, "unit": "seconds"},
        "bench_ratios.Targets.track_adam_roofline_fraction": {
            "param_names": ["backend"], "params": [["'numba'"]], "unit": "fraction"},
        "version": 2,
    }))  # fmt: skip
    nan = float("nan")
    cpu = [0.1, 0.002, nan, 0.002, 0.008, nan, 0.00178, nan]
    gpu = [nan, nan, 1e-4, 1.25e-4, nan, 1.25e-4, nan, 9e-5]
    params = {STEP: step_params, "bench_ratios.Targets.track_adam_roofline_fraction":
              [["'numba'"]]}  # fmt: skip
    _result_file(
        results / "cpu-test",
        "a" * 40,
        {STEP: cpu, "bench_ratios.Targets.track_adam_roofline_fraction": [0.89]},
        params,
    )
    _result_file(results / "gpu-test", "b" * 40, {STEP: gpu}, params)
    return results


def test_report_of_two_machines(two_machines, tmp_path):
    text = check_offline(write_report(two_machines, tmp_path / "out"))
    assert (
        "numba Adam step at 2^24 float32: 2 ms, 1.00x torch-fused time, 0.89 of roofline"
        in text
    )
    assert ("cupy Adam step at 2^24 float32: 100 us, 0.80x torch-cuda-fused time "
            "(1.2x faster), 0.90 of roofline") in text  # fmt: skip
    assert "Adam 2^24 float32 propagate: fraction of r4w3 roofline" in text  # a target
    assert (tmp_path / "out" / "charts" / "step_adam.png").is_file()
    assert "cpu-test" in text and "gpu-test" in text and "aaaaaaaa" in text


def test_kernel_view_series_by_backend_and_machine(two_machines):
    records, machines = load_results(two_machines)
    assert set(machines) == {"cpu-test", "gpu-test"}
    kernel = next(
        k for k in report_data.SECTIONS["Optimizer steps"] if k.slug == "step_adam"
    )
    view = report_data.kernel_view(kernel, records, many_machines=True)
    assert view.groups == ["2^24"] and [p[0] for p in view.panels] == ["float32"]
    assert "numba @ cpu-test" in view.series and "cupy @ gpu-test" in view.series
    assert view.series.index("numpy @ cpu-test") < view.series.index("roofline @ cpu-test")
    rows = {(r[0], r[1]): r for r in view.rows}
    assert rows[("numpy", "cpu-test")][-2] == "50.00x torch-fused"
    assert rows[("numba", "cpu-test")][-1] == "0.89"
    assert load_results(two_machines, machines=["gpu-test"])[1].keys() == {"gpu-test"}
    with pytest.raises(ValueError, match="no asv result files"):
        load_results(two_machines, machines=["elsewhere"])


def test_results_written_before_a_reordering_still_read(two_machines):
    """Parameter lists are matched by their values, not their order."""
    path = next((two_machines / "cpu-test").glob("*-existing-py3.11.json"))
    data = json.loads(path.read_text())
    row = data["results"][STEP]
    old_order = [row[1][1], row[1][0], row[1][2], row[1][3]]  # optimizer first, as once
    data["results"][STEP] = [row[0], old_order]  # one optimizer: the same value order
    path.write_text(json.dumps(data))
    records, _ = load_results(two_machines)
    numba = [
        r for r in records if r.machine == "cpu-test" and r.param("backend") == "numba"
    ]
    assert numba and numba[0].param("optimizer") == "adam"


def test_report_skips_results_it_cannot_read(two_machines, tmp_path):
    shutil.copy(two_machines / "benchmarks.json", tmp_path / "b.json")
    data = json.loads((two_machines / "benchmarks.json").read_text())
    data[STEP]["params"][0] = ["'another'"]  # the suite changed: cannot match the values
    (two_machines / "benchmarks.json").write_text(json.dumps(data))
    records, _ = load_results(two_machines)
    assert not [r for r in records if r.kernel == "OptimizerStep.time_step"]
