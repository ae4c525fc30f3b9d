"""The golden problem and the optimizer table shared by the parity and identity tests.

- :data:`GOLDENS` / :data:`PROBLEM`: the trajectories and the problem recorded by
  ``tools/make_torch_goldens.py`` in ``tests/data/torch_goldens.npz``;
  :func:`golden_gradient` is that problem's gradient.
- :data:`OPTIM_DB`: the registry's algorithms with their tuned budgets, for the
  convergence, first-step and live-torch tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from optkit.optim.registry import ALGORITHMS

# ----------------------------------------------------------------------------- goldens
GOLDEN_PATH = Path(__file__).parents[1] / "data" / "torch_goldens.npz"


def _load_goldens() -> tuple[dict[str, np.ndarray], dict[str, dict], dict]:
    with np.load(GOLDEN_PATH, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    configs = json.loads(str(arrays.pop("configs")))
    meta = json.loads(str(arrays.pop("meta")))
    return arrays, configs, meta


GOLDENS, GOLDEN_CONFIGS, GOLDEN_META = _load_goldens()
PROBLEM = {k.split("/", 1)[1]: v for k, v in GOLDENS.items() if k.startswith("problem/")}


def golden_gradient(x: np.ndarray) -> np.ndarray:
    """g(x) = Aᵀ(Ax − b) + c·sin(x) in ``x``'s dtype (as in the golden script)."""
    A = PROBLEM["A"].astype(x.dtype)
    b = PROBLEM["b"].astype(x.dtype)
    c = x.dtype.type(PROBLEM["c"])
    return A.T @ (A @ x - b) + c * np.sin(x)


# ------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Run:
    """Keyword arguments (lr included) and the step budget for one problem."""

    kwargs: dict
    steps: int


@dataclass(frozen=True)
class OptimInfo:
    """One algorithm of the registry and what the convergence tests need of it."""

    id: str
    cls: str  # class name in optkit (and in torch.optim when ``in_torch``)
    parabola: Run  # tuned by experiment: converges by ~2/3 of ``steps``
    rosenbrock: Run
    kwargs: dict = field(default_factory=dict)  # shared by both problems
    in_torch: bool = True
    first_step_is_lr_sign: bool = False  # Adam's first step is -lr * sign(g)

    def run_kwargs(self, problem: str) -> dict:
        return {**self.kwargs, **getattr(self, problem).kwargs}


OPTIM_DB: list[OptimInfo] = [
    OptimInfo(
        a.name,
        a.cls_name,
        Run(a.parabola.kwargs, a.parabola.steps),
        Run(a.rosenbrock.kwargs, a.rosenbrock.steps),
        dict(a.kwargs),
        a.torch_name is not None,
        a.first_step_is_lr_sign,
    )
    for a in ALGORITHMS.values()
]
DB_IDS = [info.id for info in OPTIM_DB]
