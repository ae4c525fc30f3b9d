"""The ``optkit sweep`` command in child processes: a driver interrupted (SIGINT) and
killed (SIGKILL) half-way resumes without recomputing finished cells; a sweep on an
externally started ``dask scheduler`` and ``dask worker`` survives a killed
scheduler."""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

from _sweep_cases import (
    adam_spec,
    assert_table_equals,
    executions,
    free_port,
    needs_dask,
    reference,
    result_cells,
    subprocess_env,
)
from _sweep_cases import (
    set_log as _set_log,
)

from optkit import cli, sweep
from optkit.sweep._toml import dumps

pytestmark = needs_dask


def _start(args, **env):
    """A child process in its own process group (so that all of it can be stopped)."""
    return subprocess.Popen(
        [sys.executable, *args],
        env=subprocess_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _stop(process, sig=signal.SIGTERM, timeout=15.0):
    """Stop ``process`` and everything it started (its process group)."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with contextlib.suppress(ProcessLookupError):  # workers left behind by SIGKILL
        os.killpg(process.pid, signal.SIGKILL)
    return process.communicate()


def _wait_for_files(out, count, process, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list((out / "results").glob("*.parquet"))) >= count:
            return
        if process.poll() is not None:
            raise AssertionError(f"the sweep ended early: {process.communicate()}")
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} result files after {timeout} s")


def _sweep_command(spec_path, out, *extra):
    return ["-m", "optkit", "sweep", "run", str(spec_path), "--out", str(out), *extra]


def test_interrupted_and_killed_driver_resume_without_recomputing(client, tmp_path, capsys):
    # 120 cells in 20 batches of ~0.15 s: long enough that each interruption below
    # lands while batches are still left, on a fast machine too
    spec = adam_spec(steps=3000, batch_size=6, seeds=2)
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(dumps(spec))
    out, logs = tmp_path / "out", [str(tmp_path / f"log{i}.jsonl") for i in range(3)]
    finished = []
    # 1. Ctrl-C in the driver (here: this process, on the shared cluster). Python's own
    # SIGINT handler, whatever this process inherited (a shell's background job starts
    # with SIGINT ignored, and then a simulated Ctrl-C does nothing)
    _set_log(client, logs[0])
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        interrupter = threading.Thread(target=_interrupt_after, args=(out, 2))
        interrupter.start()
        code = cli.main(
            _sweep_command(spec_path, out, "--scheduler", client.scheduler.address)[2:]
        )
        interrupter.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 130
    assert "rerun the same command to resume" in capsys.readouterr().err
    finished.append(set(result_cells(out)))
    # 2. SIGKILL of a driver process and of the local cluster it started
    process = _start(_sweep_command(spec_path, out, "--workers", "2"),
                     OPTKIT_SWEEP_EXECUTION_LOG=logs[1])  # fmt: skip
    try:
        _wait_for_files(out, len(finished[0]) // 6 + 2, process)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(60)
    finally:
        _stop(process)
    finished.append(set(result_cells(out)))
    assert 0 < len(finished[0]) < len(finished[1]) < 120
    # 3. the rerun completes the sweep
    _set_log(client, logs[2])
    table = sweep.run(spec_path, out, client, progress=False)
    _set_log(client, None)
    # no cell finished by an earlier run was computed again
    for before, log in zip(finished, logs[1:]):
        computed = {c for e in executions(log) for c in e["cells"]}
        assert computed and not computed & before
    assert_table_equals(table, reference(spec, alone=False))
    assert sorted(result_cells(out)) == sorted(table["cell"])
    outcomes = [r["outcome"] for r in sweep.status(out)["runs"]]
    assert outcomes[0] == "interrupted" and outcomes[2] == "complete"
    assert outcomes[1] == "running"  # killed: it never wrote its outcome


def _interrupt_after(out, files, timeout=90.0):
    """Ctrl-C (KeyboardInterrupt in the main thread) once ``files`` results exist."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and len(list((out / "results").glob("*.parquet"))) >= files:
            break
        time.sleep(0.01)
    _thread.interrupt_main()


@contextlib.contextmanager
def _external_cluster(log):
    """``dask scheduler`` and ``dask worker --nworkers 2`` processes on 127.0.0.1:
    yields the address, the scheduler process and the worker process ids."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _start(
        ["-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"]
    )  # fmt: skip
    workers = _start(
        ["-m", "distributed.cli.dask_worker", address, "--nworkers", "2", "--nthreads", "1",
         "--host", "127.0.0.1", "--no-dashboard"],
        OPTKIT_SWEEP_EXECUTION_LOG=log,
    )  # fmt: skip
    try:
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=60)
            pids = set(client.run(os.getpid).values())
        yield address, scheduler, pids
    finally:
        _stop(workers)
        _stop(scheduler)


def test_external_scheduler_and_workers_survive_a_killed_scheduler(tmp_path):
    # batches of ~0.15 s, so that the scheduler dies while batches are still left
    spec = adam_spec(problem={"name": "rosenbrock", "dim": 2}, steps=3000, batch_size=6)
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(dumps(spec))
    out, logs = (
        tmp_path / "out",
        [str(tmp_path / "log0.jsonl"), str(tmp_path / "log1.jsonl")],
    )
    with _external_cluster(logs[0]) as (address, scheduler, pids):
        driver = _start(_sweep_command(spec_path, out, "--scheduler", address))
        try:
            _wait_for_files(out, 2, driver)
            _stop(scheduler, signal.SIGKILL)
            _stdout, stderr = driver.communicate(timeout=120)
        finally:
            _stop(driver)
        assert driver.returncode == 1 and "rerun to resume" in stderr
    assert {e["pid"] for e in executions(logs[0])} <= pids  # the external workers ran it
    finished = set(result_cells(out))
    assert 0 < len(finished) < 120
    with _external_cluster(logs[1]) as (address, _scheduler, pids):
        result = subprocess.run(
            [sys.executable, *_sweep_command(spec_path, out, "--scheduler", address)],
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
    computed = [c for e in executions(logs[1]) for c in e["cells"]]
    assert {e["pid"] for e in executions(logs[1])} <= pids
    assert computed and not set(computed) & finished
    table = sweep.results(out)
    assert_table_equals(table, reference(spec, alone=False))
    assert sweep.status(out)["runs"][-1]["scheduler"] == address


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(dumps(adam_spec()))
    address = f"tcp://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [
            sys.executable,
            *_sweep_command(spec_path, tmp_path / "out", "--scheduler", address),
        ],
        env={**subprocess_env(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert f"cannot reach the scheduler '{address}'" in result.stderr
    assert sweep.status(tmp_path / "out")["pending"] == 240
