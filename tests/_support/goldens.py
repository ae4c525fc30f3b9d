"""The golden problem and the optimizer table shared by the parity and identity tests.

- :data:`GOLDENS` / :data:`PROBLEM`: the trajectories and the problem recorded by
  ``tools/make_torch_goldens.py`` in ``tests/data/torch_goldens.npz``;
  :func:`golden_gradient` is that problem's gradient.
- :data:`OPTIM_DB` (in the style of torch's ``optim_db``) drives the convergence,
  first-step and live-torch tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# ----------------------------------------------------------------------------- goldens
GOLDEN_PATH = Path(__file__).parent / "data" / "torch_goldens.npz"


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
    """One optimizer configuration and everything the tests need to know about it."""

    id: str
    cls: str  # class name in optkit (and in torch.optim when ``in_torch``)
    parabola: Run  # tuned by experiment: converges by ~2/3 of ``steps``
    rosenbrock: Run
    kwargs: dict = field(default_factory=dict)  # shared by both problems
    in_torch: bool = True
    first_step_is_lr_sign: bool = False  # C3 applies

    def run_kwargs(self, problem: str) -> dict:
        return {**self.kwargs, **getattr(self, problem).kwargs}


OPTIM_DB: list[OptimInfo] = [
    OptimInfo("sgd", "SGD", Run(dict(lr=0.1), 60), Run(dict(lr=1.5e-3), 7500)),
    OptimInfo(
        "sgd_momentum",
        "SGD",
        Run(dict(lr=0.01), 120),
        Run(dict(lr=1e-3), 1200),
        kwargs=dict(momentum=0.9),
    ),
    OptimInfo(
        "sgd_nesterov",
        "SGD",
        Run(dict(lr=0.02), 100),
        Run(dict(lr=1e-3), 1200),
        kwargs=dict(momentum=0.9, nesterov=True),
    ),
    OptimInfo("adagrad", "Adagrad", Run(dict(lr=0.5), 30), Run(dict(lr=0.1), 4500)),
    OptimInfo("rmsprop", "RMSprop", Run(dict(lr=0.01), 150), Run(dict(lr=1e-3), 4500)),
    OptimInfo(
        "adam",
        "Adam",
        Run(dict(lr=0.05), 100),
        Run(dict(lr=0.02), 500),
        first_step_is_lr_sign=True,
    ),
    OptimInfo(
        "adamw",  # torch's default weight_decay=1e-2 (biases the optimum by < 1e-2)
        "AdamW",
        Run(dict(lr=0.05), 120),
        Run(dict(lr=0.01), 600),
        first_step_is_lr_sign=True,
    ),
    OptimInfo("nadam", "NAdam", Run(dict(lr=0.05), 80), Run(dict(lr=0.01), 2500)),
    OptimInfo(
        "delta_bar_delta",
        "DeltaBarDelta",
        Run(dict(lr=0.01, kappa=0.01), 60),
        Run(dict(lr=1e-3, kappa=1e-4), 3200),
        kwargs=dict(phi=0.5, theta=0.7),
        in_torch=False,
    ),
]
DB_IDS = [info.id for info in OPTIM_DB]
