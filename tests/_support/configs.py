"""The optimizer configurations that drive the core suite, and helpers around them.

The configurations are the registry's (:data:`optkit.optim.registry.VARIANTS`, in
the style of PyTorch's ``optim_db``): every optimizer class and every rule variant
once, with hyperparameters that lower the quadratic of ``test_quadratic.py`` in 20
steps. Helpers that several test files share (parameter layouts, gradients,
snapshots, comparisons) live beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import optkit as ok
from optkit.optim.registry import VARIANTS


@dataclass(frozen=True)
class OptimConfig:
    """One optimizer configuration (a row of the registry's ``VARIANTS``)."""

    name: str
    cls: type
    kwargs: dict[str, Any] = field(default_factory=dict)
    torch: bool = True

    def make(self, params: Any, **overrides: Any) -> ok.Optimizer:
        """The optimizer over ``params`` with this configuration (plus ``overrides``)."""
        return self.cls(params, **{**self.kwargs, **overrides})

    @property
    def maximize(self) -> bool:
        return bool(self.kwargs.get("maximize", False))

    def numeric_hypers(self) -> dict[str, Any]:
        """The numeric (non-flag) hyperparameters set by this configuration."""
        return {k: v for k, v in self.kwargs.items() if not isinstance(v, bool)}

    def rule(self) -> Any:
        """The rule (with its flags) this configuration selects."""
        opt = self.make(np.zeros(1), backend="numpy")
        group = opt.param_groups[0]
        return opt.rule_for({k: group[k] for k in opt.defaults})

    def __repr__(self) -> str:
        return self.name


ADAM_BETAS = (0.9, 0.999)

#: Every optimizer and every rule variant: the registry's table.
CONFIGS: tuple[OptimConfig, ...] = tuple(
    OptimConfig(v.name, v.cls, dict(v.kwargs), v.torch) for v in VARIANTS
)

CONFIG_IDS = [c.name for c in CONFIGS]
BY_NAME = {c.name: c for c in CONFIGS}

#: One configuration per distinct rule (with its flags), for tests whose cost is one
#: Numba compilation per (rule, dtype).
ONE_PER_RULE: tuple[OptimConfig, ...] = tuple(
    {c.rule(): c for c in reversed(CONFIGS)}[r]
    for r in dict.fromkeys(c.rule() for c in CONFIGS)
)

DTYPES = (np.float32, np.float64)

#: Parameter layouts of the equivalence tests: name -> shape (``None``: a non-contiguous column view).
LAYOUTS = {
    "scalar": (),
    "empty": (0,),
    "vector": (7,),
    "matrix": (3, 5),
    "large": (1024,),
    "view": None,
}


# --------------------------------------------------------------------------- helpers
def make_param(layout: str, dtype: Any, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A parameter of ``LAYOUTS[layout]`` and the array that owns its memory.

    For ``"view"`` the parameter is column 1 of a (7, 3) array (stride 3), so the
    test can check that the other columns stay untouched.
    """
    rng = np.random.default_rng(seed)
    shape = LAYOUTS[layout]
    if shape is None:
        base = rng.standard_normal((7, 3)).astype(dtype)
        param = base[:, 1]
        assert not param.flags.c_contiguous
        return param, base
    param = np.asarray(rng.standard_normal(shape)).astype(dtype)
    return param, param


def make_grads(shape: tuple[int, ...], dtype: Any, steps: int, seed: int = 1) -> list:
    """``steps`` reproducible random gradients of ``shape`` and ``dtype``."""
    rng = np.random.default_rng(seed)
    return [np.asarray(rng.standard_normal(shape)).astype(dtype) for _ in range(steps)]


def state_arrays(opt: ok.Optimizer) -> dict[tuple[str, str], np.ndarray]:
    """Every state array of ``opt`` as a NumPy copy, keyed by (parameter, state)."""
    return {
        (name, key): np.array(np.asarray(value), copy=True)
        for name, entries in opt.state.items()
        for key, value in entries.items()
    }


def snapshot(opt: ok.Optimizer, params: list) -> dict[str, Any]:
    """Everything a failed call must leave unchanged: params, state, step, groups."""
    return {
        "params": [np.array(np.asarray(p), copy=True) for p in params],
        "state": state_arrays(opt),
        "step": opt.step_count,
        "group_state": [
            {k: np.array(np.asarray(v), copy=True) for k, v in gs.items()}
            for gs in opt.group_state
        ],
        "hypers": [
            {k: repr(v) for k, v in g.items() if k not in ("params",)}
            for g in opt.param_groups
        ],
    }


def assert_snapshot_equal(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Bitwise equality of two :func:`snapshot` results."""
    assert after["step"] == before["step"]
    assert after["hypers"] == before["hypers"]
    assert len(after["params"]) == len(before["params"])
    for a, b in zip(after["params"], before["params"]):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert after["state"].keys() == before["state"].keys()
    for key in before["state"]:
        np.testing.assert_array_equal(after["state"][key], before["state"][key])
    assert len(after["group_state"]) == len(before["group_state"])
    for a, b in zip(after["group_state"], before["group_state"]):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def assert_states_close(actual: ok.Optimizer, expected: ok.Optimizer, **tol: float) -> None:
    """Same state names, keys, shapes and dtypes; values within ``tol``
    (bitwise when ``tol`` is empty)."""
    assert actual.state.keys() == expected.state.keys()
    for name, entries in expected.state.items():
        assert actual.state[name].keys() == entries.keys(), name
        for key, want in entries.items():
            got = actual.state[name][key]
            assert got.dtype == want.dtype, (name, key)
            assert got.shape == want.shape, (name, key)
            if tol:
                np.testing.assert_allclose(
                    np.asarray(got), np.asarray(want), err_msg=f"{name}.{key}", **tol
                )
            else:
                np.testing.assert_array_equal(
                    np.asarray(got), np.asarray(want), err_msg=f"{name}.{key}"
                )


def with_scalar_kind(kwargs: dict[str, Any], kind: Any) -> dict[str, Any]:
    """``kwargs`` with every numeric value (also inside ``betas``) passed through
    ``kind`` (e.g. ``np.float64`` or ``np.asarray``); flags stay booleans."""

    def convert(v: Any) -> Any:
        if isinstance(v, bool):
            return v
        if isinstance(v, tuple):
            return tuple(convert(x) for x in v)
        return kind(v)

    return {k: convert(v) for k, v in kwargs.items()}


#: Factors applied to each numeric hyperparameter to make a population of K = 3:
#: they keep every value valid ([0, 1) stays [0, 1), >= 0 stays >= 0).
POPULATION_FACTORS = (1.0, 0.5, 0.8)


def population_kwargs(config: OptimConfig) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(kwargs with (K, 1) arrays for every numeric hyperparameter, K scalar kwargs).

    ``lr`` always varies; ``betas`` vary element-wise, as do momentum, alpha, eps, ...
    """
    factors = np.asarray(POPULATION_FACTORS)[:, None]
    numeric = {"lr": config.kwargs.get("lr", 1e-3), **config.numeric_hypers()}
    arrays: dict[str, Any] = {}
    for k, v in numeric.items():
        if isinstance(v, tuple):
            arrays[k] = tuple(factors * b for b in v)
        else:
            arrays[k] = factors * v
    separate = []
    for i, f in enumerate(POPULATION_FACTORS):
        run = {}
        for k, v in numeric.items():
            if isinstance(v, tuple):
                run[k] = tuple(float(arrays[k][j][i, 0]) for j in range(len(v)))
            else:
                run[k] = float(arrays[k][i, 0])
        assert run["lr"] == float(f * numeric["lr"])
        separate.append(run)
    return arrays, separate


def quadratic(seed: int = 0, n: int = 4, m: int = 6):
    """``(loss, grad)`` of ``((W @ x + b) ** 2).sum()`` with a fixed well-scaled W, b."""
    rng = np.random.default_rng(seed)
    W = np.eye(m, n) + 0.3 * rng.standard_normal((m, n))
    b = rng.standard_normal(m)

    def shaped_b(x):
        return b if x.ndim == 1 else b[:, None]

    def loss(x):
        r = W.astype(x.dtype) @ x + shaped_b(x).astype(x.dtype)
        return float((r.astype(np.float64) ** 2).sum())

    def grad(x):
        r = W.astype(x.dtype) @ x + shaped_b(x).astype(x.dtype)
        return (2 * W.astype(x.dtype).T @ r).astype(x.dtype)

    return loss, grad, n


def small_problem(dtype=np.float64, steps: int = 10):
    """``(params, grads)``: a dict of a (3, 4) and a (4,) array, and ``steps`` gradient
    dicts (seeded)."""
    rng = np.random.default_rng(21)
    params = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    params = {k: v.astype(dtype) for k, v in params.items()}
    grads = [
        {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
        for _ in range(steps)
    ]
    return params, grads


def copy_params(params: dict) -> dict:
    """Copies of a dict of arrays."""
    return {k: v.copy() for k, v in params.items()}


class FakeOptimizer:
    """Anything with a ``step_count`` (drives a PolyakAverage in tests)."""

    def __init__(self) -> None:
        self.step_count = 0


def polyak_trajectory(n_steps: int, dtype, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Iterates of a noisy walk: dicts of a matrix and a 0-d array."""
    rng = np.random.default_rng(seed)
    return [
        {
            "w": (rng.standard_normal((3, 4)) + 10 * k).astype(dtype),
            "s": np.asarray(rng.standard_normal(), dtype=dtype),
        }
        for k in range(n_steps)
    ]


def feed(avg: Any, params: dict, iterates: list[dict]) -> None:
    """Write each iterate into ``params`` and update ``avg``."""
    for it in iterates:
        for k, v in it.items():
            params[k][...] = v
        avg.update()
