"""The output folder of a sweep: results live here, never in Dask.

::

    DIR/spec.toml            the spec the results belong to
    DIR/manifest.json        spec hash, cell count, the history of runs
    DIR/results/<id>.parquet one file per finished batch, named by the hash of its
                             cells' ids (one row per cell, failed cells included)
    DIR/.lock                held by the running driver (one driver per folder)

Every file is written to a temporary file in the same folder, flushed, ``fsync``-ed
and renamed over its name (``os.replace``), then the folder is ``fsync``-ed: a
killed driver or a crash leaves whole files only. Finished cells are found by the
ids in the result files, so a rerun computes only the cells that are missing.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import warnings
from typing import Any

from optkit import _tempfiles
from optkit.sweep.errors import SpecChangedError
from optkit.sweep.spec import COSMETIC, Spec

__all__ = [
    "FORMAT",
    "Store",
    "atomic_write",
    "now",
    "read_manifest",
    "read_rows",
    "read_status",
]

FORMAT = "optkit.sweep/1"
_MANIFEST, _SPEC, _RESULTS, _LOCK = "manifest.json", "spec.toml", "results", ".lock"


def now() -> str:
    """The time as ISO 8601 text, UTC, to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _sync_folder(folder: str) -> None:
    with contextlib.suppress(OSError, AttributeError):  # not every platform can
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: str, write) -> None:
    """Write ``path`` through ``write(binary_file)`` atomically (temp + rename), then
    ``fsync`` its folder."""
    target = os.path.abspath(path)
    _tempfiles.write_atomically(target, write)
    _sync_folder(os.path.dirname(target))


def read_manifest(root: str) -> dict[str, Any] | None:
    """The manifest of the sweep folder ``root``, or None if there is none."""
    try:
        with open(os.path.join(root, _MANIFEST), encoding="utf-8") as file:
            manifest = json.load(file)
    except FileNotFoundError:
        return None
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{root!r}: unknown sweep format {manifest.get('format')!r}")
    return manifest


def _changed_keys(old: dict, new: dict) -> list[str]:
    keys = (set(old) | set(new)) - set(COSMETIC)
    return sorted(k for k in keys if old.get(k) != new.get(k))


def _check_folder(root: str, spec: Spec, force_new_spec: bool) -> dict | None:
    """Refuse a folder that is not a sweep's, or holds another spec's results."""
    if os.path.exists(root) and not os.path.isdir(root):
        raise NotADirectoryError(f"--out {root!r} is a file, not a folder")
    manifest = read_manifest(root) if os.path.isdir(root) else None
    if manifest is None:
        if os.path.isdir(root) and set(os.listdir(root)) - {_RESULTS, _LOCK}:
            raise FileExistsError(
                f"{root!r} is not empty and holds no sweep (no {_MANIFEST}); choose a new "
                f"or empty folder"
            )
        return None
    if manifest["spec_hash"] != spec.hash and not force_new_spec:
        changed = _changed_keys(manifest.get("spec", {}), spec.data)
        raise SpecChangedError(
            f"{root!r} holds results of another spec (changed: {', '.join(changed)}); "
            f"rerun with --force-new-spec (force_new_spec=True) to adopt the new spec "
            f"(cells it shares with the old one are kept), or choose another folder"
        )
    return manifest


class Store:
    """A sweep's output folder, locked for one driver (see the module docstring)."""

    def __init__(self, root: str, manifest: dict[str, Any], lock: Any):
        self.root = root
        self.results = os.path.join(root, _RESULTS)
        self.manifest = manifest
        self._lock = lock

    @classmethod
    def open(cls, out: str | os.PathLike, spec: Spec, cells: int, force_new_spec=False):
        """Check ``out`` (nothing is written if it is refused), lock it, store the
        spec and manifest, and clear temporary files a killed driver left."""
        root = os.path.abspath(os.fspath(out))
        old = _check_folder(root, spec, force_new_spec)
        os.makedirs(os.path.join(root, _RESULTS), exist_ok=True)
        lock = _lock(root)
        try:
            old = _check_folder(root, spec, force_new_spec)  # again, under the lock
            store = cls(root, _manifest(old, spec, cells), lock)
            store._clear_temporaries()
            atomic_write(os.path.join(root, _SPEC), lambda f: f.write(spec.toml().encode()))
            store.save_manifest()
        except BaseException:
            _unlock(lock)
            raise
        return store

    def close(self) -> None:
        """Release the folder's lock."""
        _unlock(self._lock)
        self._lock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def save_manifest(self) -> None:
        self.manifest["updated"] = now()
        text = json.dumps(self.manifest, indent=1, allow_nan=True)
        atomic_write(os.path.join(self.root, _MANIFEST), lambda f: f.write(text.encode()))

    def _clear_temporaries(self) -> None:
        for folder in (self.root, self.results):
            for name in os.listdir(folder):
                if name.startswith(".") and name.endswith(".tmp"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(folder, name))

    def write_batch(self, batch_id: str, frame) -> str:
        """Write one batch's rows as ``results/<batch_id>.parquet`` (atomically)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        path = os.path.join(self.results, f"{batch_id}.parquet")
        atomic_write(path, lambda f: pq.write_table(table, f))
        return path


def _manifest(old: dict | None, spec: Spec, cells: int) -> dict[str, Any]:
    import optkit as ok

    today = now()
    manifest = old or {"format": FORMAT, "created": today, "runs": [], "replaced_specs": []}
    if old is not None and old["spec_hash"] != spec.hash:
        manifest["replaced_specs"].append(
            {"spec_hash": old["spec_hash"], "spec": old["spec"], "replaced": today}
        )
    manifest.update(
        name=spec.name, spec_hash=spec.hash, spec=spec.data, cells=cells,
        optkit_version=ok.__version__,
    )  # fmt: skip
    return manifest


def _lock(root: str) -> Any:
    """An exclusive lock on ``root/.lock`` (released by the OS if the driver dies)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        return None
    file = open(os.path.join(root, _LOCK), "a+")  # held until close()
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        file.close()
        raise BlockingIOError(
            f"another sweep is running in {root!r} (it holds {_LOCK}); wait for it or "
            f"stop it first"
        ) from None
    return file


def _unlock(lock: Any) -> None:
    if lock is not None:
        lock.close()  # closing the file releases the flock


def result_files(root: str) -> list[str]:
    """The result files of the sweep folder ``root``, sorted by name."""
    folder = os.path.join(root, _RESULTS)
    if not os.path.isdir(folder):
        return []
    names = sorted(n for n in os.listdir(folder) if n.endswith(".parquet"))
    return [os.path.join(folder, n) for n in names]


def _quarantine(path: str, exc: Exception) -> None:
    os.replace(path, path + ".corrupt")
    warnings.warn(
        f"unreadable result file {path!r} ({exc}) renamed to *.corrupt; its cells will "
        f"be computed again",
        RuntimeWarning,
        stacklevel=3,
    )


def read_status(root: str) -> dict[str, tuple[str, float]]:
    """Cell id -> ``(status, metric)`` from every result file (a done row wins over a
    failed one)."""
    import pyarrow.parquet as pq

    status: dict[str, tuple[str, float]] = {}
    for path in result_files(root):
        try:
            columns = pq.read_table(path, columns=["cell", "status", "metric"]).to_pydict()
        except Exception as exc:  # a damaged file: set it aside, recompute its cells
            _quarantine(path, exc)
            continue
        for cell, state, metric in zip(
            columns["cell"], columns["status"], columns["metric"]
        ):
            if status.get(cell, ("",))[0] != "done":
                status[cell] = (state, metric)
    return status


def read_rows(root: str, order: dict[str, int] | None = None):
    """Every result row as one DataFrame: one row per cell (a done row wins over a
    failed one), in the spec's order when ``order`` (cell id -> index) is given,
    where cells missing from ``order`` are dropped."""
    import pandas as pd

    frames = []
    for path in result_files(root):
        try:
            frames.append(pd.read_parquet(path))
        except Exception as exc:
            _quarantine(path, exc)
    if not frames:
        return pd.DataFrame({"cell": pd.Series(dtype=str), "status": pd.Series(dtype=str)})
    rows = pd.concat(frames, ignore_index=True)
    rank = (rows["status"] != "done").astype(int)
    rows = rows.assign(_rank=rank).sort_values("_rank", kind="stable")
    rows = rows.drop_duplicates("cell").drop(columns="_rank")
    if order is not None:
        rows = rows[rows["cell"].isin(order)]
        rows = rows.assign(_order=rows["cell"].map(order)).sort_values("_order")
        rows = rows.drop(columns="_order")
    return rows[_column_order(list(rows.columns))].reset_index(drop=True)


#: Result columns after the cell's description, in this order; ``error`` last.
_RESULT_COLUMNS = (
    "metric", "steps_to", "final_loss", "best_loss", "auc", "diverged", "steps",
    "wall_time", "batch_size", "backend", "optkit_version", "worker", "batch",
)  # fmt: skip


def _column_order(columns: list[str]) -> list[str]:
    """``cell``, ``status``, the description (problem, hyperparameters, seed), the
    results, ``error``."""
    tail = [c for c in _RESULT_COLUMNS if c in columns] + ["error"] * ("error" in columns)
    head = ["cell", "status"]
    return head + [c for c in columns if c not in head and c not in tail] + tail
