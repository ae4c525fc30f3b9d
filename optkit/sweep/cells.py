"""Cells (problem configuration x hyperparameters x seed) and their batches.

A cell's id is a hash of everything that determines its result: its problem
configuration, hyperparameters and seed (and random sample number), and the
spec's shared settings (optimizer, steps, every, start, backend, ...). Results
are stored and found by these ids, so a rerun skips finished cells whatever the
batches were, and an edited spec reuses the cells it still contains.

Cells that share a problem configuration and the optimizer's flags can run as
one population (one ``ok.lab.run`` call). A batch holds at most ``batch_size``
of them, at most what fits in ``batch_memory``, and few enough that every worker
gets several batches.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from optkit.sweep import _values
from optkit.sweep._catalog import canonical
from optkit.sweep._problems import configurations
from optkit.sweep.spec import Spec

__all__ = ["Batch", "Cell", "bytes_per_cell", "expand", "plan_batches"]

#: Version of the cell identity (changes when results would differ for equal specs).
CELL_FORMAT = 1
#: Batches are not cut below this many cells to spread work over workers.
MIN_SPREAD = 64
#: Nor above this many: the step loop's overhead is amortized long before.
MAX_BATCH = 8192


@dataclass(frozen=True)
class Cell:
    """One run of the sweep."""

    id: str
    problem: dict[str, Any]
    hyperparameters: dict[str, Any]
    seed: int
    sample: int | None = None  # the random draw, for [random] searches
    index: int = field(default=0, compare=False)  # position in the spec's order

    def config(self) -> dict[str, Any]:
        """Plain data for the worker: id, problem, hyperparameters, seed, sample."""
        return {
            "id": self.id,
            "problem": self.problem,
            "hyperparameters": self.hyperparameters,
            "seed": self.seed,
            "sample": self.sample,
        }


@dataclass(frozen=True)
class Batch:
    """Cells run together as one population; ``id`` hashes their ids."""

    id: str
    cells: tuple[Cell, ...]


def _points(spec: Spec) -> list[tuple[int | None, dict[str, Any]]]:
    """Hyperparameter settings: the grid's product, crossed with the random draws."""
    keys = list(spec.grid)
    grid = [dict(zip(keys, combo)) for combo in itertools.product(*spec.grid.values())]
    if not spec.random:
        return [(None, point) for point in grid]
    draws = {
        key: _values.draw(key, axis, spec.samples, spec.random_seed)
        for key, axis in spec.random.items()
    }
    samples = [(i, {key: draws[key][i] for key in draws}) for i in range(spec.samples)]
    return [(i, {**point, **drawn}) for point in grid for i, drawn in samples]


def expand(spec: Spec) -> list[Cell]:
    """Every cell of ``spec``, in order: problems, then hyperparameters, then seeds.

    A cell's id is the SHA-256 (first 20 hex digits) of, in turn, the canonical JSON
    of the shared settings, of its problem configuration, of its hyperparameters
    (with the random sample number), and its seed.

    Examples
    --------
    >>> from optkit import sweep
    >>> spec = sweep.load_spec({"problem": {"name": "rosenbrock", "dim": [2, 4]},
    ...                         "optimizer": "sgd", "steps": 10, "seeds": 3,
    ...                         "grid": {"lr": [0.001, 0.01]}})
    >>> cells = sweep.expand(spec)
    >>> len(cells), cells[0].problem, cells[0].hyperparameters, cells[0].seed
    (12, {'name': 'rosenbrock', 'dim': 2}, {'lr': 0.001}, 0)
    """
    base = hashlib.sha256(canonical({"format": CELL_FORMAT, **spec.settings()}).encode())
    points = [(i, hyper, canonical([hyper, i]).encode()) for i, hyper in _points(spec)]
    cells: list[Cell] = []
    for table in spec.problems:
        for problem in configurations(table):
            by_problem = base.copy()
            by_problem.update(b"\0" + canonical(problem).encode())
            for sample, hyper, point in points:
                by_point = by_problem.copy()
                by_point.update(b"\0" + point + b"\0")
                for seed in spec.seeds:
                    digest = by_point.copy()
                    digest.update(str(seed).encode())
                    cell_id = digest.hexdigest()[:20]
                    cells.append(Cell(cell_id, problem, hyper, seed, sample, len(cells)))
    return cells


def bytes_per_cell(dim: int, steps: int, every: int) -> int:
    """Estimated memory of one run in a population (float64): about ten arrays of
    ``dim`` (iterate, gradient, optimizer state, copies and the problem's
    temporaries) and three of the records (the loss record and its copies)."""
    return 8 * (10 * dim + 3 * (steps // every + 2))


def batch_limit(spec: Spec, dim: int, pending: int, workers: int) -> int:
    """The largest batch for a problem of ``dim`` (see the module docstring)."""
    by_memory = max(1, spec.batch_memory // bytes_per_cell(dim, spec.steps, spec.every))
    spread = max(MIN_SPREAD, math.ceil(pending / (4 * max(1, workers))))
    limit = min(by_memory, spread, MAX_BATCH)
    return limit if spec.batch_size is None else min(limit, spec.batch_size)


def plan_batches(spec: Spec, cells: list[Cell], workers: int = 1) -> list[Batch]:
    """Group ``cells`` by problem configuration and flags, and cut each group into
    near-equal batches within :func:`batch_limit`.

    Examples
    --------
    >>> from optkit import sweep
    >>> spec = sweep.load_spec({"problem": {"name": "rosenbrock"}, "optimizer": "sgd",
    ...                         "steps": 10, "seeds": 100, "batch_size": 64,
    ...                         "grid": {"lr": [0.001, 0.01]}})
    >>> [len(b.cells) for b in sweep.plan_batches(spec, sweep.expand(spec))]
    [50, 50, 50, 50]
    """
    flags = [k for k, v in spec.catalog.items() if isinstance(v, bool)]
    texts: dict[int, str] = {}  # cells of one configuration share its dict
    groups: dict[tuple, list[Cell]] = {}
    for cell in cells:
        problem = texts.get(id(cell.problem))
        if problem is None:
            problem = texts[id(cell.problem)] = canonical(cell.problem)
        key = (problem, *(cell.hyperparameters.get(f) for f in flags))
        groups.setdefault(key, []).append(cell)
    batches = []
    for (problem, *_flags), members in groups.items():
        dim = spec.problem_info[problem][0]
        limit = batch_limit(spec, dim, len(cells), workers)
        count = math.ceil(len(members) / limit)
        bounds = [round(i * len(members) / count) for i in range(count + 1)]
        for start, stop in itertools.pairwise(bounds):
            chunk = tuple(members[start:stop])
            digest = hashlib.sha256(",".join(sorted(c.id for c in chunk)).encode())
            batches.append(Batch(digest.hexdigest()[:20], chunk))
    return batches
