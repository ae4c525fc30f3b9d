"""Write once (TESTING.md B2, B3): a rule defined here, in the test file, runs unchanged
on every executor; and ``backend="numba"`` really takes the fast path."""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest
from _configs import CONFIG_IDS, CONFIGS, make_param
from conftest import CPU_BACKENDS, tolerance

import optkit as ok
import optkit._exec.array_api as array_api_exec
import optkit._exec.numba as numba_exec
from optkit import _exec
from optkit.rules.math import abs, sign, sqrt, where

HALF = 0.5  # a numeric module constant: the only kind of global a rule may use


# --------------------------------------------------------------------------- new rules
@ok.rule(state=("v",))
def lecture_heavy_ball(p, g, v, *, lr, mu):
    """The lecture's momentum form: ``v = mu v - lr g``, ``p = p + v``."""
    v = mu * v - lr * g
    return p + v, v


@ok.rule(state=("m",))
def signum(p, g, m, *, lr, beta, wd):
    """Sign momentum with decoupled decay; half a step where g disagrees with m."""
    m = beta * m + (1 - beta) * g
    agree = m * g
    step = where(agree > 0, sign(m), HALF * sign(m))
    return p * (1 - lr * wd) - lr * step, m


@ok.rule(state=("r",))
def rms_clipped(p, g, r, *, lr, rho):
    """An RMS-normalized step with the numerator's magnitude bounded by 1."""
    r = rho * r + (1 - rho) * g * g
    return p - lr * g / sqrt(r + abs(g) + 1.0), r


def expected(rule, p, g, states, hypers):
    """The same math written by hand in NumPy (float64), applied once."""
    if rule is lecture_heavy_ball:
        (v,) = states
        v = hypers["mu"] * v - hypers["lr"] * g
        return p + v, (v,)
    if rule is signum:
        (m,) = states
        m = hypers["beta"] * m + (1 - hypers["beta"]) * g
        step = np.where(m * g > 0, np.sign(m), 0.5 * np.sign(m))
        return p * (1 - hypers["lr"] * hypers["wd"]) - hypers["lr"] * step, (m,)
    (r,) = states
    r = hypers["rho"] * r + (1 - hypers["rho"]) * g * g
    return p - hypers["lr"] * g / np.sqrt(r + np.abs(g) + 1.0), (r,)


NEW_RULES = {
    lecture_heavy_ball: {"lr": 0.1, "mu": 0.9},
    signum: {"lr": 0.05, "beta": 0.8, "wd": 0.1},
    rms_clipped: {"lr": 0.1, "rho": 0.9},
}
EXECUTORS = ["numpy", "numba", "array_api"]


def _inputs(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    p = np.asarray(rng.standard_normal(shape)).astype(dtype)
    grads = [np.asarray(rng.standard_normal(shape)).astype(dtype) for _ in range(4)]
    return p, grads


def _to(executor, x):
    return xps.asarray(x, copy=True) if executor == "array_api" else x.copy()


def _apply(executor, rule, p0, grads, hypers, array_hypers=frozenset()):
    """Run ``rule`` through the executor's kernel; return NumPy copies of p and state."""
    p = _to(executor, p0)
    states = tuple(_to(executor, np.zeros_like(p0)) for _ in rule.state)
    kernel = _exec.kernel_for(executor, rule, array_hypers)
    cast = _exec.cast_hypers(executor, hypers, p)
    for g in grads:
        kernel(p, _to(executor, g), states, cast)
    assert all(s.dtype == p.dtype for s in states)
    if executor == "array_api":
        assert isinstance(p, type(xps.ones(1)))  # still array_api_strict
    return np.asarray(p), [np.asarray(s) for s in states]


@pytest.mark.parametrize("shape", [(), (7,), (3, 5)], ids=["0d", "1d", "2d"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("rule", list(NEW_RULES), ids=lambda r: r.name)
def test_new_rule_runs_on_every_executor(rule, dtype, shape):
    hypers = NEW_RULES[rule]
    p0, grads = _inputs(shape, dtype)
    want_p = p0.astype(np.float64)
    want_s = tuple(np.zeros(shape) for _ in rule.state)
    for g in grads:
        want_p, want_s = expected(rule, want_p, g.astype(np.float64), want_s, hypers)
    tol = tolerance(dtype)
    for executor in EXECUTORS:
        p, states = _apply(executor, rule, p0, grads, hypers)
        assert p.dtype == dtype, executor
        np.testing.assert_allclose(p, want_p, err_msg=executor, **tol)
        for got, want in zip(states, want_s):
            np.testing.assert_allclose(got, want, err_msg=executor, **tol)
    assert not np.allclose(want_p, p0)


@pytest.mark.parametrize("rule", list(NEW_RULES), ids=lambda r: r.name)
def test_new_rule_on_views_and_array_hypers(rule):
    """A non-contiguous parameter, and ``lr`` as a (3, 1) array for a (3, 5) one."""
    hypers = NEW_RULES[rule]
    param, base = make_param("view", np.float64)
    _, grads = _inputs(param.shape, np.float64)
    results = {}
    for executor in CPU_BACKENDS:
        p = param.copy()
        b = base.copy()
        view = b[:, 1]
        states = tuple(np.zeros(p.shape) for _ in rule.state)
        kernel = _exec.kernel_for(executor, rule, frozenset())
        cast = _exec.cast_hypers(executor, hypers, view)
        for g in grads:
            kernel(view, g, states, cast)
        np.testing.assert_array_equal(b[:, [0, 2]], base[:, [0, 2]])
        results[executor] = view.copy()
    np.testing.assert_allclose(results["numba"], results["numpy"], **tolerance(np.float64))
    assert not np.allclose(results["numpy"], param)

    p0, grads = _inputs((3, 5), np.float64, seed=2)
    lrs = np.array([[hypers["lr"]], [0.5 * hypers["lr"]], [0.0]])
    population = {**hypers, "lr": lrs}
    for executor in EXECUTORS:
        p, _ = _apply(executor, rule, p0, grads, population, frozenset({"lr"}))
        for k in range(3):
            row, _ = _apply(
                executor,
                rule,
                p0[k],
                [g[k] for g in grads],
                {**hypers, "lr": float(lrs[k, 0])},
            )
            np.testing.assert_allclose(
                p[k], row, err_msg=f"{executor} row {k}", **tolerance(np.float64)
            )
        np.testing.assert_array_equal(p[2], p0[2])  # lr = 0 row is frozen


def test_new_rule_numba_source_has_the_rule():
    text = numba_exec.source_for(signum, frozenset())
    assert "def _rule(" in text
    assert "where" in text and "sign" in text


# --------------------------------------------------------------------------- new optimizer
def _unit(name, value):
    if not 0 <= float(value) < 1:
        raise ValueError(f"invalid {name}={value!r}: must be in [0, 1)")


class Signum(ok.Optimizer):
    """A tiny optimizer made in the test file from the :func:`signum` rule."""

    checks = {"beta": _unit}

    def __init__(self, params, lr=1e-2, beta=0.9, weight_decay=0.0, *, backend=None):
        super().__init__(
            params, dict(lr=lr, beta=beta, weight_decay=weight_decay), backend=backend
        )

    def rule_for(self, values):
        return signum

    def host_hypers(self, values, t, group_state):
        return dict(lr=values["lr"], beta=values["beta"], wd=values["weight_decay"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_new_optimizer_on_every_backend(dtype):
    hypers = NEW_RULES[signum]
    p0, grads = _inputs((4, 3), dtype, seed=5)
    want_p, want_s = p0.astype(np.float64), (np.zeros((4, 3)),)
    for g in grads:
        want_p, want_s = expected(signum, want_p, g.astype(np.float64), want_s, hypers)
    for backend in EXECUTORS:
        w = _to(backend, p0)
        opt = Signum({"w": w}, lr=0.05, beta=0.8, weight_decay=0.1, backend=backend)
        assert opt.backend == backend
        for g in grads:
            assert opt.step({"w": _to(backend, g)}) is True
        assert w.dtype == opt.state["w"]["m"].dtype
        np.testing.assert_allclose(
            np.asarray(w), want_p, err_msg=backend, **tolerance(dtype)
        )
        np.testing.assert_allclose(
            np.asarray(opt.state["w"]["m"]), want_s[0], err_msg=backend, **tolerance(dtype)
        )
        assert opt.step_count == len(grads)


def test_new_optimizer_validates_and_saves():
    with pytest.raises(ValueError, match=r"beta=1\.5"):
        Signum(np.ones(2), beta=1.5)
    w = np.ones(3)
    opt = Signum(w, lr=0.1, backend="numba")
    opt.step(np.array([1.0, -1.0, 0.0]))
    sd = opt.state_dict()
    assert sd["optimizer"] == "Signum"
    w2 = w.copy()
    opt2 = Signum(w2, lr=0.1, backend="numpy")
    opt2.load_state_dict(sd)
    opt.step(np.ones(3))
    opt2.step(np.ones(3))
    np.testing.assert_allclose(w2, w, **tolerance(np.float64))


# --------------------------------------------------------------------------- contract
def test_rule_signature_is_checked():
    with pytest.raises(TypeError, match="positional parameters"):

        @ok.rule(state=("m",))
        def wrong(p, m, g, *, lr):
            return p, m

    with pytest.raises(TypeError, match="unsupported"):

        @ok.rule()
        def star(p, g, *args, lr):
            return (p,)


@ok.rule()
def uses_numpy(p, g, *, lr):
    return (p - lr * np.sign(g),)


def test_rule_with_foreign_global_is_rejected_by_numba():
    with pytest.raises(TypeError, match="'np'"):
        _exec.kernel_for("numba", uses_numpy, frozenset())


@ok.rule()
def sign_by_where(p, g, *, lr):
    return (p - lr * where(g > 0, 1.0, where(g < 0, -1.0, 0.0)),)


@pytest.mark.parametrize("executor", EXECUTORS)
def test_where_with_number_branches_keeps_float32(executor):
    """``where(cond, 1.0, -1.0)``: both branches are Python numbers; like any other
    Python scalar in a rule they must take the parameter's dtype (NumPy's weak
    scalars), so float32 stays float32 on every executor, array_api_strict included."""
    p0, grads = _inputs((6,), np.float32)
    p, _ = _apply(executor, sign_by_where, p0, grads[:1], {"lr": 0.25})
    want = p0 - np.float32(0.25) * np.sign(grads[0])
    assert p.dtype == np.float32
    np.testing.assert_allclose(p, want, **tolerance(np.float32))


# --------------------------------------------------------------------------- B3
def _forbid(*args, **kwargs):
    raise AssertionError("this executor must not be used")


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_numba_backend_never_calls_the_array_api_executor(config, monkeypatch):
    monkeypatch.setattr(array_api_exec, "run_rule", _forbid)
    p, _ = make_param("matrix", np.float64)
    start = p.copy()
    opt = config.make(p, backend="numba")
    for _ in range(2):
        opt.step(np.full(p.shape, 0.3))
    assert not np.array_equal(p, start)
    ref = config.make(start.copy(), backend="numpy")  # the patch is live: control
    with pytest.raises(AssertionError, match="must not be used"):
        ref.step(np.full(p.shape, 0.3))


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_numpy_backend_never_calls_numba(config, monkeypatch):
    monkeypatch.setattr(numba_exec, "kernel_for", _forbid)
    monkeypatch.setattr(numba_exec, "cast_hypers", _forbid)
    p, _ = make_param("matrix", np.float64)
    start = p.copy()
    opt = config.make(p, backend="numpy")
    opt.step(np.full(p.shape, 0.3))
    assert not np.array_equal(p, start)
    fast = config.make(start.copy(), backend="numba")  # control
    with pytest.raises(AssertionError, match="must not be used"):
        fast.step(np.full(p.shape, 0.3))
