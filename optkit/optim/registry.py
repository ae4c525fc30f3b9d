"""The one table of optimizers: algorithms, test variants and invalid inputs.

In the style of PyTorch's ``optim_db``: every consumer iterates this table instead of
keeping its own list — the test suite (variants, error inputs, convergence budgets),
the torch golden recorder (``tools/make_torch_goldens.py``), the benchmarks
(``optkit bench``, the asv suite), the lab (``ok.lab.run(problem, "momentum", ...)``)
and the examples.

:data:`ALGORITHMS`
    One named algorithm each (``"sgd"``, ``"momentum"``, ``"nesterov"``,
    ``"adagrad"``, ``"rmsprop"``, ``"adam"``, ``"amsgrad"``, ``"adamw"``, ``"nadam"``,
    ``"delta_bar_delta"``): the optkit class and the keyword arguments that make it
    this algorithm, torch's class and state names, and learning rates tuned for the
    standard problems.
:data:`VARIANTS`
    The configurations the tests run: every rule variant and flag (momentum,
    dampening, Nesterov, weight decay, maximize, AMSGrad, centered, ...).
:data:`ERROR_INPUTS`
    Invalid keyword arguments, the exception each must raise and a pattern its
    message must match (the value is named).

Examples
--------
>>> import numpy as np
>>> from optkit.optim.registry import ALGORITHMS
>>> info = ALGORITHMS["momentum"]
>>> info.cls_name, info.kwargs, info.torch_name
('SGD', {'momentum': 0.9}, 'SGD')
>>> opt = info.make(np.zeros(3), lr=0.1)
>>> type(opt).__name__, opt.param_groups[0]["momentum"]
('SGD', 0.9)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ALGORITHMS", "ERROR_INPUTS", "VARIANTS", "Algorithm", "Budget", "Variant"]


def _class(name: str) -> type:
    import optkit

    return getattr(optkit, name)


@dataclass(frozen=True)
class Budget:
    """A tuned run on one problem: keyword arguments (lr included) and steps."""

    kwargs: dict[str, Any]
    steps: int


@dataclass(frozen=True)
class Algorithm:
    """One named algorithm (see the module docstring).

    ``parabola`` and ``rosenbrock`` are tuned budgets for f = ½Σhᵢ(xᵢ−1)², h = (1, 10),
    and for Rosenbrock, both from (0, 0): the run ends within 1e-2 of (1, 1) after
    about two thirds of ``steps``. ``race`` is tuned for the 5,000-step Rosenbrock race
    from (−1.2, 1). ``torch_state`` maps optkit's state names to torch's.
    """

    name: str
    label: str
    cls_name: str
    kwargs: dict[str, Any]
    torch_name: str | None
    torch_state: dict[str, str]
    lr: float  # a sensible default learning rate (benchmarks)
    parabola: Budget
    rosenbrock: Budget
    race: dict[str, Any]
    first_step_is_lr_sign: bool = False

    @property
    def cls(self) -> type:
        """The optkit optimizer class."""
        return _class(self.cls_name)

    def make(self, params: Any, **overrides: Any) -> Any:
        """This algorithm over ``params`` (default lr unless overridden)."""
        return self.cls(params, **{"lr": self.lr, **self.kwargs, **overrides})


@dataclass(frozen=True)
class Variant:
    """One test configuration: an optkit class and its keyword arguments.

    ``torch`` is True when ``torch.optim.<cls_name>(**kwargs)`` has the same
    semantics (the golden recorder runs those).
    """

    name: str
    cls_name: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    torch: bool = True

    @property
    def cls(self) -> type:
        return _class(self.cls_name)

    def make(self, params: Any, **overrides: Any) -> Any:
        return self.cls(params, **{**self.kwargs, **overrides})

    def __repr__(self) -> str:
        return self.name


def _algo(name, label, cls_name, kwargs, torch_name, state, lr, parabola, rosenbrock, race,
          **extra):  # fmt: skip
    return Algorithm(
        name, label, cls_name, kwargs, torch_name, state, lr,
        Budget(*parabola), Budget(*rosenbrock), race, **extra,
    )  # fmt: skip


_SGD_STATE = {"buf": "momentum_buffer"}
_ADAM_STATE = {"m": "exp_avg", "v": "exp_avg_sq", "vmax": "max_exp_avg_sq"}

ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        _algo("sgd", "SGD", "SGD", {}, "SGD", {}, 1e-3,
              (dict(lr=0.1), 60), (dict(lr=1.5e-3), 7500), dict(lr=1e-3)),
        _algo("momentum", "SGD + momentum", "SGD", {"momentum": 0.9}, "SGD", _SGD_STATE,
              1e-3, (dict(lr=0.01), 120), (dict(lr=1e-3), 1200), dict(lr=2e-4)),
        _algo("nesterov", "SGD + Nesterov", "SGD", {"momentum": 0.9, "nesterov": True},
              "SGD", _SGD_STATE, 1e-3, (dict(lr=0.02), 100), (dict(lr=1e-3), 1200),
              dict(lr=2e-4)),
        _algo("delta_bar_delta", "Delta-bar-delta", "DeltaBarDelta",
              {"phi": 0.5, "theta": 0.7}, None, {}, 1e-2,
              (dict(lr=0.01, kappa=0.01), 60), (dict(lr=1e-3, kappa=1e-4), 3200),
              dict(lr=1e-4, kappa=1e-5)),
        _algo("adagrad", "AdaGrad", "Adagrad", {}, "Adagrad", {"sum_sq": "sum"}, 1e-2,
              (dict(lr=0.5), 30), (dict(lr=0.1), 4500), dict(lr=0.5)),
        _algo("rmsprop", "RMSProp", "RMSprop", {}, "RMSprop",
              {"v": "square_avg", "gbar": "grad_avg", "buf": "momentum_buffer"}, 1e-3,
              (dict(lr=0.01), 150), (dict(lr=1e-3), 4500), dict(lr=1e-3, alpha=0.9)),
        _algo("adam", "Adam", "Adam", {}, "Adam", _ADAM_STATE, 1e-3,
              (dict(lr=0.05), 100), (dict(lr=0.02), 500), dict(lr=2e-2),
              first_step_is_lr_sign=True),
        _algo("amsgrad", "AMSGrad", "Adam", {"amsgrad": True}, "Adam", _ADAM_STATE, 1e-3,
              (dict(lr=0.05), 100), (dict(lr=0.02), 500), dict(lr=2e-2),
              first_step_is_lr_sign=True),
        _algo("adamw", "AdamW", "AdamW", {}, "AdamW", _ADAM_STATE, 1e-3,
              (dict(lr=0.05), 120), (dict(lr=0.01), 600), dict(lr=2e-2, weight_decay=0.0),
              first_step_is_lr_sign=True),
        _algo("nadam", "NAdam", "NAdam", {}, "NAdam", _ADAM_STATE, 2e-3,
              (dict(lr=0.05), 80), (dict(lr=0.01), 2500), dict(lr=2e-2)),
    )
}  # fmt: skip


def _v(name: str, cls_name: str, torch: bool = True, **kwargs: Any) -> Variant:
    return Variant(name, cls_name, kwargs, torch)


#: Every rule variant and flag; learning rates lower ``((W x + b)**2).sum()`` in 20 steps.
VARIANTS: tuple[Variant, ...] = (
    _v("sgd", "SGD", lr=0.05),
    _v("sgd_weight_decay", "SGD", lr=0.05, weight_decay=0.1),
    _v("sgd_maximize", "SGD", lr=0.05, maximize=True),
    _v("sgd_momentum", "SGD", lr=0.02, momentum=0.9),
    _v("sgd_dampening", "SGD", lr=0.02, momentum=0.9, dampening=0.3),
    _v("sgd_lecture_momentum", "SGD", False, lr=0.02, momentum=0.9, lecture_momentum=True),
    _v("sgd_momentum_wd_maximize", "SGD", lr=0.02, momentum=0.5, weight_decay=0.05,
       maximize=True),
    _v("sgd_nesterov", "SGD", lr=0.02, momentum=0.9, nesterov=True),
    _v("sgd_nesterov_wd", "SGD", lr=0.02, momentum=0.8, weight_decay=0.1, nesterov=True),
    _v("adagrad", "Adagrad", lr=0.1),
    _v("adagrad_lr_decay", "Adagrad", lr=0.1, lr_decay=0.05),
    _v("adagrad_initial_accumulator", "Adagrad", lr=0.1, initial_accumulator_value=0.1),
    _v("adagrad_all", "Adagrad", lr=0.1, lr_decay=0.01, weight_decay=0.05,
       initial_accumulator_value=0.5, eps=1e-6),
    _v("adagrad_maximize", "Adagrad", lr=0.1, maximize=True),
    _v("rmsprop", "RMSprop", lr=0.01, alpha=0.99),
    _v("rmsprop_eps_in_sqrt", "RMSprop", False, lr=0.01, alpha=0.9, eps=1e-6,
       eps_in_sqrt=True),
    _v("rmsprop_centered", "RMSprop", lr=0.01, centered=True),
    _v("rmsprop_momentum", "RMSprop", lr=0.005, momentum=0.5),
    _v("rmsprop_centered_momentum", "RMSprop", lr=0.005, momentum=0.5, centered=True),
    _v("rmsprop_wd_maximize", "RMSprop", lr=0.01, weight_decay=0.05, maximize=True),
    _v("adam", "Adam", lr=0.05, betas=(0.9, 0.999)),
    _v("adam_amsgrad", "Adam", lr=0.05, amsgrad=True),
    _v("adam_weight_decay", "Adam", lr=0.05, weight_decay=0.1),
    _v("adam_decoupled", "Adam", lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
    _v("adam_amsgrad_wd", "Adam", lr=0.05, betas=(0.8, 0.99), weight_decay=0.1,
       amsgrad=True),
    _v("adam_maximize", "Adam", lr=0.05, maximize=True),
    _v("adamw", "AdamW", lr=0.05, betas=(0.9, 0.999), weight_decay=0.01),
    _v("adamw_amsgrad", "AdamW", lr=0.05, weight_decay=0.05, amsgrad=True),
    _v("nadam", "NAdam", lr=0.05, betas=(0.9, 0.999)),
    _v("nadam_weight_decay", "NAdam", lr=0.05, weight_decay=0.1),
    _v("nadam_decoupled", "NAdam", lr=0.05, weight_decay=0.1, momentum_decay=0.01,
       decoupled_weight_decay=True),
    _v("nadam_maximize", "NAdam", lr=0.05, maximize=True),
    _v("delta_bar_delta", "DeltaBarDelta", False, lr=0.01, kappa=0.002, phi=0.2,
       theta=0.6),
    _v("delta_bar_delta_wd_maximize", "DeltaBarDelta", False, lr=0.01, weight_decay=0.05,
       maximize=True),
)  # fmt: skip

#: (class name, keyword arguments, exception, message pattern): invalid inputs.
ERROR_INPUTS: tuple[tuple[str, dict[str, Any], type, str], ...] = (
    ("SGD", {"lr": -1.0}, ValueError, r"lr=-1\.0"),
    ("SGD", {"lr": float("nan")}, ValueError, r"lr=nan"),
    ("SGD", {"lr": 0.1, "momentum": -0.5}, ValueError, r"momentum=-0\.5"),
    ("SGD", {"lr": 0.1, "dampening": -0.1}, ValueError, r"dampening=-0\.1"),
    ("SGD", {"lr": 0.1, "weight_decay": -1e-4}, ValueError, r"weight_decay=-0\.0001"),
    ("SGD", {"lr": 0.1, "nesterov": True}, ValueError, r"nesterov.*momentum=0"),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}, ValueError,
     r"nesterov.*dampening=0\.1"),
    ("SGD", {"lr": "0.1"}, TypeError, r"lr='0\.1'"),
    ("SGD", {"lr": 0.1, "maximize": 1}, TypeError, r"maximize=1"),
    ("Adagrad", {"lr": -0.01}, ValueError, r"lr=-0\.01"),
    ("Adagrad", {"lr_decay": -0.1}, ValueError, r"lr_decay=-0\.1"),
    ("Adagrad", {"eps": -1e-10}, ValueError, r"eps=-1e-10"),
    ("Adagrad", {"initial_accumulator_value": -0.1}, ValueError,
     r"initial_accumulator_value=-0\.1"),
    ("RMSprop", {"lr": -0.01}, ValueError, r"lr=-0\.01"),
    ("RMSprop", {"alpha": 1.0}, ValueError, r"alpha=1\.0"),
    ("RMSprop", {"alpha": -0.1}, ValueError, r"alpha=-0\.1"),
    ("RMSprop", {"eps": -1e-8}, ValueError, r"eps=-1e-08"),
    ("RMSprop", {"momentum": -0.9}, ValueError, r"momentum=-0\.9"),
    ("RMSprop", {"centered": "yes"}, TypeError, r"centered='yes'"),
    ("Adam", {"lr": -1e-3}, ValueError, r"lr=-0\.001"),
    ("Adam", {"eps": -1e-8}, ValueError, r"eps=-1e-08"),
    ("Adam", {"betas": (1.0, 0.999)}, ValueError, r"betas\[0\]=1\.0"),
    ("Adam", {"betas": (-0.1, 0.999)}, ValueError, r"betas\[0\]=-0\.1"),
    ("Adam", {"betas": (0.9, 1.0)}, ValueError, r"betas\[1\]=1\.0"),
    ("Adam", {"betas": (0.9, 1.5)}, ValueError, r"betas\[1\]=1\.5"),
    ("Adam", {"betas": (0.9,)}, ValueError, r"betas"),
    ("Adam", {"weight_decay": -0.1}, ValueError, r"weight_decay=-0\.1"),
    ("AdamW", {"betas": (0.9, -0.5)}, ValueError, r"betas\[1\]=-0\.5"),
    ("AdamW", {"weight_decay": -0.01}, ValueError, r"weight_decay=-0\.01"),
    ("NAdam", {"betas": (1.2, 0.999)}, ValueError, r"betas\[0\]=1\.2"),
    ("NAdam", {"momentum_decay": -4e-3}, ValueError, r"momentum_decay=-0\.004"),
    ("NAdam", {"eps": -1.0}, ValueError, r"eps=-1\.0"),
    ("DeltaBarDelta", {"lr": -0.01}, ValueError, r"lr=-0\.01"),
    ("DeltaBarDelta", {"kappa": -0.001}, ValueError, r"kappa=-0\.001"),
    ("DeltaBarDelta", {"phi": 1.0}, ValueError, r"phi=1\.0"),
    ("DeltaBarDelta", {"phi": -0.1}, ValueError, r"phi=-0\.1"),
    ("DeltaBarDelta", {"theta": 1.0}, ValueError, r"theta=1\.0"),
    ("DeltaBarDelta", {"theta": -0.5}, ValueError, r"theta=-0\.5"),
)  # fmt: skip
