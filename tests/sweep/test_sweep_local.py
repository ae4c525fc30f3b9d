"""Sweeps on a two-process LocalCluster: equal to the cells run alone, resumable,
failures recorded, a killed worker survived, changed specs refused."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import numpy as np
import pandas as pd
import pytest
from _sweep_cases import (
    adam_spec,
    assert_table_equals,
    executions,
    local_cluster,
    needs_dask,
    reference,
    result_cells,
)
from _sweep_cases import (
    set_log as _set_log,
)

from optkit import sweep

pytestmark = needs_dask


@pytest.fixture
def log(tmp_path, monkeypatch):
    """An execution log that the worker processes append to."""
    path = str(tmp_path / "executions.jsonl")
    monkeypatch.setenv("OPTKIT_SWEEP_EXECUTION_LOG", path)
    return path


def test_local_cluster_equals_cells_run_alone_and_resumes(client, tmp_path, log):
    _set_log(client, log)
    out = tmp_path / "out"
    table = sweep.run(adam_spec(), out, client, progress=False)
    assert len(table) == 240
    assert_table_equals(table, reference(adam_spec()))
    assert table["batch_size"].max() <= 16 and table["batch"].nunique() >= 15
    assert set(table["backend"]) == {"numba"}
    assert table["lr"].nunique() == 10 and set(table["betas[0]"]) == {0.5, 0.8, 0.9}
    assert (table["betas[1]"] == 0.999).all() and (table["dim"].isin([2, 3])).all()
    assert sorted(result_cells(out)) == sorted(table["cell"])  # each cell once on disk
    first = executions(log)
    assert sum(len(e["cells"]) for e in first) == 240
    assert len({e["pid"] for e in first}) == 2  # both workers took batches
    # a rerun resumes: nothing is computed again, the same table comes back
    again = sweep.run(adam_spec(), out, client, progress=False)
    assert executions(log) == first
    pd.testing.assert_frame_equal(again, table)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [r["outcome"] for r in manifest["runs"]] == ["complete", "complete"]
    assert [r["pending"] for r in manifest["runs"]] == [240, 0]
    assert (manifest["runs"][0]["done"], manifest["runs"][0]["failed"]) == (240, 0)
    assert (out / "spec.toml").exists()
    assert sweep.status(out)["done"] == 240


def test_failing_cells_are_recorded_and_the_rest_runs(client, tmp_path):
    spec = adam_spec(
        grid={"lr": [-0.1, 0.01, 30.0, 0.1], "eps": [1e-8]},
        seeds=3,
        nonfinite="raise",
        problem={"name": "rosenbrock", "dim": 2},
        batch_size=None,
    )
    table = sweep.run(spec, tmp_path / "out", client, progress=False)
    assert len(table) == 12 and table["batch"].nunique() == 1  # one population
    failed = table[table["status"] == "failed"]
    assert set(failed["lr"]) >= {-0.1}
    assert failed.loc[failed["lr"] == -0.1, "error"].str.contains("lr").all()
    assert failed["error"].str.len().min() > 10 and np.isnan(failed["metric"]).all()
    done = table[table["status"] == "done"]
    assert set(done["lr"]) >= {0.01, 0.1}
    expected = reference({**spec, "grid": {"lr": [0.01, 0.1], "eps": [1e-8]}}, alone=False)
    for _, row in done[done["lr"].isin([0.01, 0.1])].iterrows():
        assert row["final_loss"] == expected[row["cell"]]["final_loss"]
    info = sweep.status(tmp_path / "out")
    assert info["failed"] == len(failed) and info["pending"] == 0
    assert any("lr" in error for error, _count in info["errors"])


def test_retry_failed_recomputes_only_failed_cells(client, tmp_path, log):
    _set_log(client, log)
    spec = adam_spec(grid={"lr": [-1.0, 0.01]}, problem={"name": "beale"}, seeds=2)
    sweep.run(spec, tmp_path / "out", client, progress=False)
    before = len(executions(log))
    sweep.run(spec, tmp_path / "out", client, progress=False)
    assert len(executions(log)) == before  # failed cells are finished cells
    table = sweep.run(spec, tmp_path / "out", client, progress=False, retry_failed=True)
    retried = executions(log)[before:]
    assert sorted(c for e in retried for c in e["cells"]) == sorted(
        table.loc[table["lr"] == -1.0, "cell"]
    )
    assert table["cell"].is_unique and (table["status"] == "failed").sum() == 2


def test_changed_spec_is_refused_unless_forced(client, tmp_path, log):
    _set_log(client, log)
    out = tmp_path / "out"
    small = adam_spec(problem={"name": "rosenbrock", "dim": 2}, seeds=2)
    sweep.run(small, out, client, progress=False)
    files = sorted(os.listdir(out / "results"))
    spec_text = (out / "spec.toml").read_text()
    grown = adam_spec(problem={"name": "rosenbrock", "dim": 2}, seeds=3)
    with pytest.raises(sweep.SpecChangedError, match=r"changed: seeds.*--force-new-spec"):
        sweep.run(grown, out, client, progress=False)
    assert sorted(os.listdir(out / "results")) == files
    assert (out / "spec.toml").read_text() == spec_text
    before = len(executions(log))
    table = sweep.run(grown, out, client, progress=False, force_new_spec=True)
    new = [c for e in executions(log)[before:] for c in e["cells"]]
    assert len(table) == 90 and len(new) == 30  # only the third seed is computed
    assert set(table.loc[table["seed"] == 2, "cell"]) == set(new)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["replaced_specs"]) == 1 and manifest["spec"]["seeds"] == 3
    # cosmetic changes (name, batch sizes) are not a different spec
    sweep.run({**grown, "name": "renamed", "batch_size": 7}, out, client, progress=False)


def test_a_folder_that_is_not_a_sweep_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no sweep"):
        sweep.run(adam_spec(), tmp_path, progress=False)
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_one_driver_per_folder(tmp_path):
    from optkit.sweep.store import Store

    spec = sweep.load_spec(adam_spec())
    with Store.open(tmp_path, spec, 240):
        with pytest.raises(BlockingIOError, match="another sweep is running"):
            Store.open(tmp_path, spec, 240)
    Store.open(tmp_path, spec, 240).close()  # released


def test_a_damaged_result_file_is_set_aside_and_recomputed(client, tmp_path):
    spec = adam_spec(problem={"name": "beale"}, seeds=2)
    out = tmp_path / "out"
    table = sweep.run(spec, out, client, progress=False)
    victim = sorted((out / "results").glob("*.parquet"))[0]
    lost = set(pd.read_parquet(victim)["cell"])
    victim.write_bytes(b"not parquet")
    (out / "results" / ".x.parquet.123.ab.tmp").write_bytes(b"left by a killed driver")
    with pytest.warns(RuntimeWarning, match="unreadable result file"):
        again = sweep.run(spec, out, client, progress=False)
    assert (out / "results" / (victim.name + ".corrupt")).exists()
    assert not list((out / "results").glob(".*.tmp"))
    pd.testing.assert_frame_equal(
        again.drop(columns=["batch", "wall_time", "worker", "batch_size"]),
        table.drop(columns=["batch", "wall_time", "worker", "batch_size"]),
    )
    assert lost <= set(again["cell"])


def test_a_killed_worker_loses_nothing(tmp_path, log):
    cluster, client = local_cluster()
    try:
        # batches long enough (~0.2 s each) that the batch seen running is still running
        # when its worker is killed, not finished and on its way to the driver
        spec = adam_spec(steps=4000, problem={"name": "rosenbrock", "dim": 2}, batch_size=6)
        out = tmp_path / "out"
        outcome = {}

        def sweep_in_background():
            try:
                outcome["table"] = sweep.run(spec, out, client, progress=False)
            except BaseException as exc:  # reported by the main thread
                outcome["error"] = exc

        thread = threading.Thread(target=sweep_in_background)
        thread.start()
        pids = set(client.run(os.getpid).values())
        victim = _running_batch(log, out, pids)
        os.kill(victim["pid"], signal.SIGKILL)
        thread.join(timeout=120)
        assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
        table = outcome["table"]
    finally:
        client.close()
        cluster.close()
    assert_table_equals(table, reference(spec, alone=False))
    assert sorted(result_cells(out)) == sorted(table["cell"])  # once on disk too
    runs = executions(log)
    assert [e["batch"] for e in runs].count(victim["batch"]) == 2  # it ran again
    # only the killed worker's batches ran twice: the one it was running, and any it
    # had finished whose result the driver had not fetched yet (lost with its memory)
    first: dict[str, int] = {}
    for entry in runs:
        if entry["batch"] in first:
            assert first[entry["batch"]] == victim["pid"] != entry["pid"]
        first.setdefault(entry["batch"], entry["pid"])


def _running_batch(log, out, pids, timeout=60.0):
    """A log entry of a batch that a worker is running now (started, not written),
    once at least one batch has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        written = (
            {p.stem for p in (out / "results").glob("*.parquet")} if out.exists() else set()
        )
        running = [
            e for e in executions(log) if e["batch"] not in written and e["pid"] in pids
        ]
        if written and running:
            return running[-1]
        time.sleep(0.01)
    raise AssertionError("no batch was seen running")


def test_stochastic_cells_equal_their_runs_alone(client, tmp_path):
    # noisy gradients: each run draws from its own generator, whatever its batch; runs
    # that overflow are stopped alone
    spec = {
        "problem": [{"name": "beale", "noise": [0.1, 1.0]}, {"name": "himmelblau"}],
        "optimizer": "nesterov",
        "steps": 60,
        "seeds": [3, 11, 12],
        "x0": "random",
        "stochastic": True,
        "metric": "best_loss",
        "batch_size": 4,
        "grid": {"lr": [0.001, 0.003], "momentum": [0.5, 0.9]},
    }
    table = sweep.run(spec, tmp_path / "out", client, progress=False)
    assert len(table) == 3 * 4 * 3 and table["batch"].nunique() >= 9
    assert_table_equals(table, reference(spec))
    assert (table["diverged"] >= 0).any()  # some overflow on Beale: stopped alone
    finished = table[table["diverged"] < 0]
    settings = finished.groupby(["problem", "noise", "lr", "momentum"], dropna=False)
    final = settings["final_loss"]
    assert (final.nunique() == final.size()).all()  # the seeds draw differently
