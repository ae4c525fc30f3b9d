"""Reading a sweep folder: its status, its table, the best cells."""

from __future__ import annotations

import collections
import os
from typing import Any

from optkit.sweep import _deps
from optkit.sweep.cells import expand
from optkit.sweep.spec import load_spec
from optkit.sweep.store import read_manifest, read_rows, read_status, result_files
from optkit.sweep.worker import RESERVED_COLUMNS

__all__ = ["best", "format_status", "results", "status", "varying_columns"]

_METRIC_COLUMNS = ("metric", "steps_to", "final_loss", "best_loss", "auc", "diverged")


def _open(out: str | os.PathLike):
    root = os.path.abspath(os.fspath(out))
    manifest = read_manifest(root) if os.path.isdir(root) else None
    if manifest is None:
        raise FileNotFoundError(f"{root!r} is not a sweep folder (no manifest.json)")
    spec = load_spec(manifest["spec"])
    return root, manifest, spec, expand(spec)


def results(out: str | os.PathLike):
    """The table of a sweep folder: one row per finished or failed cell of its
    spec, in the spec's order (columns as :func:`optkit.sweep.run` returns)."""
    _deps.require("pandas", "pyarrow")
    root, _manifest, spec, cells = _open(out)
    table = read_rows(root, {c.id: c.index for c in cells})
    table.attrs.update(name=spec.name, metric=spec.metric, out=root)
    return table


def status(out: str | os.PathLike) -> dict[str, Any]:
    """Counts of a sweep folder's cells: ``done``, ``failed``, ``pending`` (of
    ``cells``), the most common errors, result files, and the runs so far.

    Examples
    --------
    >>> import tempfile, optkit as ok
    >>> with tempfile.TemporaryDirectory() as out:
    ...     ok.sweep.status(out)
    Traceback (most recent call last):
    ...
    FileNotFoundError: ... is not a sweep folder (no manifest.json)
    """
    _deps.require("pyarrow")
    root, manifest, spec, cells = _open(out)
    states = read_status(root)
    counts = collections.Counter(states[c.id][0] for c in cells if c.id in states)
    errors: collections.Counter = collections.Counter()
    if counts["failed"]:
        rows = read_rows(root, {c.id: c.index for c in cells})
        errors.update(rows.loc[rows["status"] == "failed", "error"])
    return {
        "name": spec.name,
        "folder": root,
        "cells": len(cells),
        "done": counts["done"],
        "failed": counts["failed"],
        "pending": len(cells) - counts["done"] - counts["failed"],
        "errors": errors.most_common(5),
        "files": len(result_files(root)),
        "metric": spec.metric,
        "spec_hash": manifest["spec_hash"],
        "runs": manifest.get("runs", []),
    }


def format_status(info: dict[str, Any]) -> str:
    """The status as a few lines of text."""
    lines = [
        f"sweep {info['name']!r} in {info['folder']}",
        f"  cells   {info['cells']}: {info['done']} done, {info['failed']} failed, "
        f"{info['pending']} pending ({info['files']} result files)",
        f"  metric  {info['metric']}",
    ]
    if info["runs"]:
        last = info["runs"][-1]
        lines.append(f"  runs    {len(info['runs'])}, the last {last.get('outcome')}")
    for error, count in info["errors"]:
        lines.append(f"  failed  {count} x {error}")
    if info["pending"]:
        lines.append(
            "  rerun the same `optkit sweep run` command to compute the pending cells"
        )
    return "\n".join(lines)


def varying_columns(table) -> list[str]:
    """The columns that describe cells (problem and its parameters, hyperparameters,
    seed, sample) and take more than one value in ``table``."""
    other = set(RESERVED_COLUMNS) - {"problem", "seed", "sample"}
    names = [c for c in table.columns if c not in other]
    return [c for c in names if table[c].astype(str).nunique() > 1]


def best(table, n: int = 10, by: str = "metric"):
    """The ``n`` finished cells with the lowest ``by``, with the columns that vary
    and the metrics."""
    done = table[table["status"] == "done"]
    ordered = done.sort_values([by, "final_loss"], kind="stable").head(n)
    columns = varying_columns(table) + [c for c in _METRIC_COLUMNS if c in table.columns]
    return ordered[list(dict.fromkeys(columns))]
