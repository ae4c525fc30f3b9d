"""Parity with ``torch.optim``.

Every trajectory recorded by ``tools/make_torch_goldens.py`` in
``tests/data/torch_goldens.npz`` is reproduced by each CPU backend (float64, rtol
1e-6). These tests need no torch. Tests marked ``torch`` rerun torch live (float64 and
float32) and skip cleanly without it.

The golden file drives the golden tests; :data:`_problems.OPTIM_DB` drives the live
torch ones. The textbook identities are in ``test_identities.py``.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from _support.backends import tolerance
from _support.goldens import (
    GOLDEN_CONFIGS,
    GOLDEN_META,
    GOLDEN_PATH,
    GOLDENS,
    OPTIM_DB,
    PROBLEM,
    golden_gradient,
)

import optkit as ok


def optkit_trajectory(
    name: str, kwargs: dict, x0: np.ndarray, steps: int, grad, cpu_backend: str
) -> np.ndarray:
    """Parameters after 0..steps steps of ``optkit.<name>``, stepping ``x`` in place."""
    x = x0.copy()
    opt = getattr(ok, name)(x, backend=cpu_backend, **kwargs)
    rows = [x.copy()]
    for _ in range(steps):
        assert opt.step(grad(x)) is True
        rows.append(x.copy())
    return np.stack(rows)


@contextlib.contextmanager
def _torch_default_dtype(torch, dtype):
    # torch keeps scalar state (NAdam's mu_product) in the default dtype.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if dtype == np.float64 else torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def torch_trajectory(torch, name: str, kwargs: dict, x0: np.ndarray, steps: int, grad):
    """The same as :func:`optkit_trajectory`, with ``torch.optim.<name>``."""
    kwargs = {k: tuple(v) if k == "betas" else v for k, v in kwargs.items()}
    with _torch_default_dtype(torch, x0.dtype):
        x = torch.tensor(x0.copy())
        opt = getattr(torch.optim, name)([x], foreach=False, **kwargs)
        rows = [x.numpy().copy()]
        for _ in range(steps):
            x.grad = torch.from_numpy(grad(x.numpy().copy()))
            opt.step()
            rows.append(x.numpy().copy())
    return np.stack(rows)


# ======================================================================= goldens
def _has(kwargs: dict, key: str) -> bool:
    value = kwargs.get(key, 0)
    return bool(value) and value != 0


#: What the goldens must cover, as predicates on (optimizer, kwargs) of their configs.
C2_REQUIRED = {
    "SGD plain": ("SGD", lambda kw: set(kw) == {"lr"}),
    "SGD momentum": (
        "SGD",
        lambda kw: _has(kw, "momentum") and not _has(kw, "dampening") and len(kw) == 2,
    ),
    "SGD momentum+dampening": ("SGD", lambda kw: _has(kw, "dampening")),
    "SGD nesterov": ("SGD", lambda kw: _has(kw, "nesterov")),
    "SGD weight_decay": ("SGD", lambda kw: _has(kw, "weight_decay")),
    "SGD maximize": ("SGD", lambda kw: _has(kw, "maximize")),
    "Adagrad plain": ("Adagrad", lambda kw: set(kw) == {"lr"}),
    "Adagrad lr_decay": ("Adagrad", lambda kw: _has(kw, "lr_decay")),
    "Adagrad initial_accumulator_value": (
        "Adagrad",
        lambda kw: _has(kw, "initial_accumulator_value"),
    ),
    "Adagrad weight_decay": ("Adagrad", lambda kw: _has(kw, "weight_decay")),
    "RMSprop plain": ("RMSprop", lambda kw: set(kw) <= {"lr", "alpha"}),
    "RMSprop centered": (
        "RMSprop",
        lambda kw: _has(kw, "centered") and not _has(kw, "momentum"),
    ),
    "RMSprop momentum": (
        "RMSprop",
        lambda kw: _has(kw, "momentum") and not _has(kw, "centered"),
    ),
    "RMSprop centered+momentum": (
        "RMSprop",
        lambda kw: _has(kw, "momentum") and _has(kw, "centered"),
    ),
    "RMSprop weight_decay": ("RMSprop", lambda kw: _has(kw, "weight_decay")),
    "Adam plain": ("Adam", lambda kw: set(kw) <= {"lr", "betas"}),
    "Adam amsgrad": ("Adam", lambda kw: _has(kw, "amsgrad")),
    "Adam weight_decay": ("Adam", lambda kw: _has(kw, "weight_decay")),
    "Adam maximize": ("Adam", lambda kw: _has(kw, "maximize")),
    "AdamW": ("AdamW", lambda kw: not _has(kw, "amsgrad")),
    "AdamW amsgrad": ("AdamW", lambda kw: _has(kw, "amsgrad")),
    "NAdam plain": ("NAdam", lambda kw: set(kw) <= {"lr", "betas"}),
    "NAdam weight_decay": (
        "NAdam",
        lambda kw: _has(kw, "weight_decay") and not _has(kw, "decoupled_weight_decay"),
    ),
    "NAdam decoupled_weight_decay": (
        "NAdam",
        lambda kw: _has(kw, "decoupled_weight_decay"),
    ),
}


@pytest.mark.parametrize("item", sorted(C2_REQUIRED))
def test_golden_file_covers_c2(item):
    name, wanted = C2_REQUIRED[item]
    matches = [
        cid
        for cid, cfg in GOLDEN_CONFIGS.items()
        if cfg["optimizer"] == name and wanted(cfg["kwargs"])
    ]
    assert matches, f"no golden config for {item!r}; rerun tools/make_torch_goldens.py"


def test_golden_file_shape():
    steps = GOLDEN_META["steps"]
    assert steps >= 20
    assert PROBLEM["x0"].shape == (8,)
    assert GOLDEN_PATH.stat().st_size < 300_000  # parity + float32-precision runs
    for cid in GOLDEN_CONFIGS:
        traj = GOLDENS[f"{cid}/params"]
        assert traj.dtype == np.float64
        assert traj.shape == (steps + 1, PROBLEM["x0"].size)
        np.testing.assert_array_equal(traj[0], PROBLEM["x0"])
        assert np.all(np.isfinite(traj)), cid
        # every step moves the parameters (the gradient never vanishes here)
        assert np.all(np.abs(np.diff(traj, axis=0)).max(axis=1) > 1e-8), cid


@pytest.mark.parametrize("config_id", sorted(GOLDEN_CONFIGS))
def test_matches_torch_golden(config_id, cpu_backend):
    cfg = GOLDEN_CONFIGS[config_id]
    golden = GOLDENS[f"{config_id}/params"]
    got = optkit_trajectory(
        cfg["optimizer"],
        cfg["kwargs"],
        PROBLEM["x0"],
        golden.shape[0] - 1,
        golden_gradient,
        cpu_backend,
    )
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, golden, rtol=1e-6, atol=1e-12, err_msg=config_id)


# ------------------------------------------------------------------ live torch
LIVE_GOLDEN_IDS = ["sgd_nesterov", "adagrad_all", "rmsprop_centered_momentum",
                   "adam_amsgrad", "adamw", "nadam_decoupled"]  # fmt: skip
LIVE_DB = [info for info in OPTIM_DB if info.in_torch]


@pytest.mark.torch
@pytest.mark.parametrize("config_id", LIVE_GOLDEN_IDS)
def test_golden_file_is_current(config_id):
    """The stored goldens are what this torch computes (else: rerun the script)."""
    torch = pytest.importorskip("torch")
    cfg = GOLDEN_CONFIGS[config_id]
    golden = GOLDENS[f"{config_id}/params"]
    live = torch_trajectory(
        torch,
        cfg["optimizer"],
        cfg["kwargs"],
        PROBLEM["x0"],
        golden.shape[0] - 1,
        golden_gradient,
    )
    np.testing.assert_allclose(live, golden, rtol=1e-10, atol=1e-14)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("info", LIVE_DB, ids=[i.id for i in LIVE_DB])
def test_matches_live_torch(info, dtype, cpu_backend):
    """optkit and live torch on the golden problem, in float64 and in float32."""
    torch = pytest.importorskip("torch")
    kwargs = info.run_kwargs("parabola")
    x0 = PROBLEM["x0"].astype(dtype)
    steps = 30
    expected = torch_trajectory(torch, info.cls, kwargs, x0, steps, golden_gradient)
    got = optkit_trajectory(info.cls, kwargs, x0, steps, golden_gradient, cpu_backend)
    assert got.dtype == dtype
    tol = dict(rtol=1e-6, atol=1e-12) if dtype == np.float64 else tolerance(np.float32)
    np.testing.assert_allclose(got, expected, **tol)
