"""The sweep's progress: one tqdm bar over cells, the best metric so far, the
dashboard link."""

from __future__ import annotations

import math
import sys
from typing import Any

__all__ = ["Progress", "describe"]


def describe(spec, cell) -> str:
    """The settings that vary in the sweep, for one cell: ``"lr=0.01 kappa=100"``."""
    varying = dict(cell.hyperparameters) if spec.random else {}
    varying.update({k: cell.hyperparameters[k] for k, v in spec.grid.items() if len(v) > 1})
    for table in spec.problems:
        for param, values in table.items():
            if len(values) > 1 or (param == "name" and len(spec.problems) > 1):
                varying[param] = cell.problem.get(param)
    if len(spec.seeds) > 1:
        varying["seed"] = cell.seed
    text = (f"{v:.3g}" if isinstance(v, float) else str(v) for v in varying.values())
    return " ".join(f"{k}={t}" for k, t in zip(varying, text))


class Progress:
    """A bar over all cells of the spec (finished ones counted from the start)."""

    def __init__(self, spec, cells, status: dict[str, tuple[str, float]], enabled):
        self.spec = spec
        self.enabled = sys.stderr.isatty() if enabled is None else bool(enabled)
        self.cells = {c.id: c for c in cells}
        self.done = sum(1 for c in cells if c.id in status)
        self.best: tuple[float, Any] = (math.inf, None)
        for cell_id, (state, metric) in status.items():
            if state == "done" and cell_id in self.cells:
                self._consider(metric, cell_id)
        self.bar = None

    def _consider(self, metric: Any, cell_id: str) -> bool:
        if metric is not None and metric < self.best[0]:
            self.best = (float(metric), cell_id)
            return True
        return False

    def start(self, pending: int, batches: int, threads: int, dashboard: str | None):
        """Announce the run and open the bar."""
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        print(
            f"sweep {self.spec.name!r}: {len(self.cells)} cells, {self.done} already "
            f"finished; {pending} to run in {batches} batches on {threads} worker threads",
            file=sys.stderr,
        )
        if dashboard:
            print(f"dashboard: {dashboard}", file=sys.stderr)
        self.bar = tqdm(
            total=len(self.cells), initial=self.done, unit="cell", desc=self.spec.name,
            file=sys.stderr, dynamic_ncols=True,
        )  # fmt: skip
        self._show_best()

    def _show_best(self) -> None:
        value, cell_id = self.best
        if self.bar is not None and cell_id is not None:
            where = describe(self.spec, self.cells[cell_id])
            self.bar.set_postfix_str(f"best {self.spec.metric}={value:.4g} ({where})")

    def add(self, frame) -> None:
        """Count a finished batch's rows; update the best."""
        done = frame[frame["status"] == "done"]
        improved = False
        for cell_id, metric in zip(done["cell"], done["metric"]):
            improved |= self._consider(metric, cell_id)
        if self.bar is not None:
            if improved:
                self._show_best()
            self.bar.update(len(frame))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
