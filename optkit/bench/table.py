"""``optkit bench [OPTIMIZER]``: one optimizer step on every backend, as a table.

Time per step, effective GB/s (each array an ideal fused step touches counted once)
and the fraction of the roofline measured in the same process (a loop with the same
memory traffic: :mod:`optkit.bench.roofline`). Rows come one per backend as each
finishes (:func:`run_rows`), so a caller can print them as they arrive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from optkit.bench import timing
from optkit.bench.machine import missing_message, roofline_of
from optkit.bench.steps import STEP_BACKENDS, bytes_per_step, make_step

__all__ = [
    "Row",
    "available_backends",
    "format_header",
    "format_row",
    "plot_rows",
    "rows_json",
    "run_rows",
]


@dataclass
class Row:
    """One backend's result (``seconds`` is None when it could not run)."""

    backend: str
    seconds: float | None
    gbps: float | None = None
    roofline_fraction: float | None = None
    note: str = ""


def available_backends(
    candidates: tuple[str, ...] = STEP_BACKENDS,
) -> tuple[list[str], dict[str, str]]:
    """(backends that can run here, {missing backend: "reason; install hint"}).

    Examples
    --------
    >>> here, missing = available_backends(("numpy", "cupy"))
    >>> here[0], sorted(here + list(missing))
    ('numpy', ['cupy', 'numpy'])
    """
    here, missing = [], {}
    for name in candidates:
        message = missing_message(name)
        if message:
            missing[name] = message
        else:
            here.append(name)
    return here, missing


def run_rows(
    name: str,
    n: int,
    dtype: Any = np.float32,
    backends: tuple[str, ...] = STEP_BACKENDS,
    min_time: float = 0.2,
    repeat: int = 5,
) -> Iterator[Row]:
    """Time optimizer ``name`` on each backend; yields a :class:`Row` as each finishes.

    Rooflines (``roofline``, ``roofline-cuda``) are timed first where a backend on
    their device is asked for, so that every later row has its fraction.

    Examples
    --------
    >>> rows = list(run_rows("sgd", 1000, backends=("numpy",), min_time=0.001, repeat=1))
    >>> rows[0].backend, rows[0].seconds > 0, rows[0].roofline_fraction is None
    ('numpy', True, True)
    """
    dtype = np.dtype(dtype)
    nbytes = bytes_per_step(name, n, dtype.itemsize)
    order = [b for b in backends if b.startswith("roofline")]
    order += [b for b in backends if not b.startswith("roofline")]
    roofs: dict[str, float] = {}
    for backend in order:
        try:
            step = make_step(name, backend, n, dtype)
        except NotImplementedError as exc:
            yield Row(backend, None, note=str(exc))
            continue
        seconds = timing.time_call(step, min_time, repeat)
        if backend.startswith("roofline"):
            roofs[backend] = seconds
        roof = roofs.get(roofline_of(backend))
        yield Row(
            backend, seconds, nbytes / seconds / 1e9, roof / seconds if roof else None
        )


def _fmt_time(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def format_header(name: str, n: int, dtype: Any) -> str:
    """The lines above the rows."""
    dtype = np.dtype(dtype)
    nbytes = bytes_per_step(name, n, dtype.itemsize)
    return (
        f"{name}: {n:,} {dtype.name} parameters, {nbytes / 1e6:.1f} MB moved per step\n"
        f"{'backend':<18}{'time/step':>12}{'GB/s':>9}{'of roofline':>13}"
    )


def format_row(row: Row) -> str:
    """One backend's line.

    Examples
    --------
    >>> format_row(Row("numba", 2e-3, 14.0, 0.9))
    'numba                  2.00 ms     14.0         0.90'
    """
    if row.seconds is None:
        return f"{row.backend:<18}{'n/a':>12}   ({row.note})"
    frac = "-" if row.roofline_fraction is None else f"{row.roofline_fraction:.2f}"
    return f"{row.backend:<18}{_fmt_time(row.seconds):>12}{row.gbps:>9.1f}{frac:>13}"


def rows_json(name: str, n: int, dtype: Any, rows: list[Row], **extra: Any) -> str:
    """The result as JSON (``optkit bench --json``)."""
    dtype = np.dtype(dtype)
    return json.dumps(
        {
            "optimizer": name,
            "size": n,
            "dtype": dtype.name,
            "bytes_per_step": bytes_per_step(name, n, dtype.itemsize),
            "rows": [asdict(r) for r in rows],
            **extra,
        },
        indent=2,
    )


def plot_rows(name: str, n: int, dtype: Any, rows: list[Row], path: str) -> None:
    """A bar chart of time per step by backend, saved to ``path`` (needs matplotlib)."""
    from optkit.bench.charts import pyplot

    plt = pyplot()
    timed = [r for r in rows if r.seconds is not None]
    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.45 * max(1, len(timed))), dpi=100)
    labels = [r.backend for r in timed]
    values = [r.seconds * 1e3 for r in timed]
    colors = ["0.6" if r.backend.startswith("roofline") else "C0" for r in timed]
    ax.barh(labels, values, color=colors)
    for y, r in enumerate(timed):
        note = f" {r.roofline_fraction:.2f} of roofline" if r.roofline_fraction else ""
        ax.text(
            r.seconds * 1e3, y, f" {_fmt_time(r.seconds)}{note}", va="center", fontsize=8
        )
    ax.invert_yaxis()
    ax.set_xlabel("ms per step (lower is better)")
    ax.set_title(f"{name}, {n:,} {np.dtype(dtype).name} parameters", fontsize=10)
    ax.set_xlim(0, max(values, default=1) * 1.6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
