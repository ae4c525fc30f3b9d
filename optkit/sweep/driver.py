"""``run``: a sweep on Dask, resumable, one Parquet file per finished batch."""

from __future__ import annotations

import collections
import contextlib
import os
import secrets
from typing import Any

from optkit.sweep import _deps
from optkit.sweep._progress import Progress
from optkit.sweep.cells import Batch, Cell, expand, plan_batches
from optkit.sweep.errors import SweepAborted
from optkit.sweep.spec import load_spec
from optkit.sweep.store import Store, now, read_rows, read_status
from optkit.sweep.worker import failed_rows, run_batch

__all__ = ["run"]


def run(
    spec: Any,
    out: str | os.PathLike,
    client: Any = None,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    force_new_spec: bool = False,
    retry_failed: bool = False,
    retries: int = 2,
    progress: bool | None = None,
):
    """Run a sweep on Dask and return its table (one row per cell).

    Parameters
    ----------
    spec : dict, str or os.PathLike
        The spec (see :func:`optkit.sweep.load_spec`), or the path of its TOML file.
        It is checked completely before anything is written or computed.
    out : str or os.PathLike
        The results folder (created if needed). Rerunning into the same folder
        resumes: finished cells are skipped.
    client : distributed.Client, optional
        Run on this client. Default: a client of ``scheduler``, else a new
        ``LocalCluster`` (one single-threaded worker process per core, or
        ``workers``), closed at the end.
    scheduler : str, optional
        A scheduler address (``"tcp://host:8786"``) to connect to.
    workers : int, optional
        Worker processes of the local cluster (default: the number of cores).
    force_new_spec : bool, default False
        Adopt ``spec`` although ``out`` holds results of another spec; cells the two
        share (equal configuration and settings) are kept.
    retry_failed : bool, default False
        Compute cells recorded as failed again.
    retries : int, default 2
        Dask retries of a batch whose task raised unexpectedly (a cell's own error is
        recorded, not retried; a batch whose worker died is rerun by Dask anyway).
    progress : bool, optional
        A tqdm bar over cells with the best metric so far, and the dashboard link;
        default: when stderr is a terminal.

    Returns
    -------
    pandas.DataFrame
        One row per finished or failed cell of ``spec``, in the spec's order:
        ``cell`` (id), ``status`` (``"done"``/``"failed"``), ``error``, ``problem``
        and its parameters, ``optimizer``, every hyperparameter, ``seed``
        (``sample`` for random searches), ``metric`` (the spec's metric, lower is
        better; a never reached ``steps_to`` is inf), ``steps_to``, ``final_loss``,
        ``best_loss``, ``auc``, ``diverged``, ``steps``, ``wall_time`` (of the
        batch's population run), ``batch_size``, ``backend``, ``optkit_version``,
        ``worker``, ``batch``.

    Raises
    ------
    SpecError
        A bad spec (nothing written).
    SpecChangedError
        ``out`` holds another spec's results and ``force_new_spec`` is False.
    SweepAborted
        The scheduler was lost or workers cannot import optkit (results so far are
        saved: rerun to resume).

    Notes
    -----
    Worker processes of a local cluster are started with ``spawn``: a script that
    calls ``run`` without a client must do so under ``if __name__ == "__main__":``.
    See ``docs/sweep.md`` for batching, failures and the folder's layout.

    Examples
    --------
    >>> import tempfile, optkit as ok
    >>> from distributed import Client
    >>> spec = {"problem": {"name": "rosenbrock"}, "optimizer": "adam", "steps": 300,
    ...         "grid": {"lr": [0.001, 0.01, 0.1]}, "seeds": 2, "metric": "best_loss"}
    >>> with tempfile.TemporaryDirectory() as out, Client(
    ...     processes=False, n_workers=1, dashboard_address=None
    ... ) as client:
    ...     table = ok.sweep.run(spec, out, client, progress=False)
    >>> len(table), float(table.loc[table["metric"].idxmin(), "lr"])
    (6, 0.1)
    """
    _deps.require()
    spec = load_spec(spec)
    if client is not None and (scheduler is not None or workers is not None):
        raise ValueError("give client=, or scheduler=, or workers= (a local cluster)")
    if scheduler is not None and workers is not None:
        raise ValueError(
            "workers= sizes a local cluster; with scheduler= start workers there"
        )
    if workers is not None and (
        isinstance(workers, bool) or int(workers) != workers or workers < 1
    ):
        raise ValueError(f"workers={workers!r}: expected a positive integer")
    cells = expand(spec)
    with Store.open(out, spec, len(cells), force_new_spec) as store:
        _run_pending(
            spec, store, cells, client, scheduler, workers, retry_failed, retries, progress
        )
    table = read_rows(store.root, {c.id: c.index for c in cells})
    table.attrs.update(name=spec.name, metric=spec.metric, out=store.root)
    return table


def _run_pending(
    spec, store, cells, client, scheduler, workers, retry_failed, retries, progress
):
    """Compute the cells that have no result yet; record the run in the manifest."""
    status = read_status(store.root)
    redo = ("failed",) if retry_failed else ()
    pending = [c for c in cells if c.id not in status or status[c.id][0] in redo]
    entry = {"started": now(), "pending": len(pending), "outcome": "running"}
    store.manifest["runs"].append(entry)
    store.save_manifest()
    outcome, execution = "aborted", None
    try:
        if pending:
            with _connect(client, scheduler, workers) as dask_client:
                entry["scheduler"] = dask_client.scheduler.address
                bar = Progress(spec, cells, status, progress)
                try:
                    execution = _Execution(spec, store, dask_client, pending, bar, retries)
                    execution.loop()
                finally:
                    bar.close()
        outcome = "complete"
    except KeyboardInterrupt:
        outcome = "interrupted"
        raise
    finally:
        entry.update(outcome=outcome, finished=now())
        if execution is not None:
            entry.update(done=execution.counts["done"], failed=execution.counts["failed"])
        store.save_manifest()


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def _connect(client, scheduler, workers):
    """The client to run on: the one given, one of ``scheduler``, or a local cluster
    of single-threaded worker processes (each Numba's share of the cores)."""
    from distributed import Client, LocalCluster

    if client is not None:
        yield client
        return
    if scheduler is not None:
        try:
            dask_client = Client(scheduler)  # timeout: distributed.comm.timeouts.connect
        except OSError as exc:
            raise SweepAborted(f"cannot reach the scheduler {scheduler!r}: {exc}") from None
        with dask_client:
            yield dask_client
        return
    count = workers or _cpu_count()
    threads = max(1, _cpu_count() // count)
    with (
        LocalCluster(
            n_workers=count,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            env={"NUMBA_NUM_THREADS": str(threads)},
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


class _Execution:
    """Batches as Dask futures, at most ``window`` in flight; each result is written
    by the driver as soon as it arrives, then released (the scheduler keeps nothing)."""

    def __init__(self, spec, store: Store, client, pending: list[Cell], bar, retries: int):
        self.spec, self.store, self.client, self.bar = spec, store, client, bar
        self.settings = spec.settings()
        self.retries = retries
        threads = sum(client.nthreads().values())
        self.window = max(8, 3 * threads)
        self.queue = collections.deque(plan_batches(spec, pending, max(1, threads)))
        self.token = secrets.token_hex(4)
        self.inflight: dict[str, Batch] = {}
        self.counts = {"done": 0, "failed": 0}  # cells written by this run
        bar.start(len(pending), len(self.queue), threads, _dashboard(client))

    def _submit(self, completed) -> None:
        batch = self.queue.popleft()
        future = self.client.submit(
            run_batch,
            self.settings,
            [c.config() for c in batch.cells],
            batch.id,
            key=f"optkit-sweep-{batch.id}-{self.token}",
            retries=self.retries,
        )
        self.inflight[future.key] = batch
        completed.add(future)

    def loop(self) -> None:
        from distributed import as_completed

        completed = as_completed()
        for _ in range(min(self.window, len(self.queue))):
            self._submit(completed)
        try:
            for future in completed:
                batch = self.inflight.pop(future.key)
                frame = self._outcome(future, batch)
                self.store.write_batch(batch.id, frame)
                future.release()
                for state, count in frame["status"].value_counts().items():
                    self.counts[state] += int(count)
                self.bar.add(frame)
                if self.queue:
                    self._submit(completed)
        except BaseException:
            with contextlib.suppress(Exception):  # stop work on a shared cluster too
                self.client.cancel(list(completed.futures))
            raise

    def _outcome(self, future, batch: Batch):
        """The batch's rows; failed rows if its task erred; abort if Dask lost it."""
        from distributed import KilledWorker

        if future.status == "finished":
            try:
                return future.result()
            except Exception as exc:  # the result could not be fetched
                raise SweepAborted(
                    f"lost the result of a batch ({exc}); rerun to resume"
                ) from None
        if future.status != "error":
            raise SweepAborted(
                f"lost contact with the scheduler (batch {future.status}); the finished "
                f"batches are saved in {self.store.root!r}: rerun to resume"
            )
        exc = future.exception()
        if isinstance(exc, ImportError):
            raise SweepAborted(
                f"a worker cannot import what the sweep needs ({exc}); install optkit "
                f"with the 'sweep' extra on every worker"
            )
        if isinstance(exc, KilledWorker):
            error = f"KilledWorker: the workers running this batch died ({exc})"
        else:
            error = f"{type(exc).__name__}: {exc}"
        frame = failed_rows(self.settings, [c.config() for c in batch.cells], error)
        frame["batch"] = batch.id
        return frame


def _dashboard(client) -> str | None:
    """The dashboard link, when the scheduler serves one (it needs bokeh)."""
    with contextlib.suppress(Exception):
        if client.scheduler_info().get("services", {}).get("dashboard"):
            return client.dashboard_link
    return None
