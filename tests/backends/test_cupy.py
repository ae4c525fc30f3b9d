"""The CuPy backend against the NumPy reference (needs a CUDA device; marked ``gpu``).

TESTING.md B1 (every configuration × dtype × layout, params and every state after
10 steps), B2 (a rule written here runs unchanged), B4 (hypothesis), B6 (population
hyperparameters), S2 (state dicts and checkpoints move between CuPy and NumPy),
plus: the GPU computes bit for bit what the host-compiled body computes, FlatParams
is one launch per dtype, non-finite gradients are caught on the device, backend
wiring, clipping and ``optkit info``.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from _configs import (
    CONFIG_IDS,
    CONFIGS,
    DTYPES,
    LAYOUTS,
    ONE_PER_RULE,
    make_grads,
    make_param,
    population_kwargs,
)
from conftest import tolerance

try:  # the GPU machine may lack hypothesis (tools/gpu_check.sh carries a wheel)
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    st = None

import optkit as ok
from optkit import _exec
from optkit.rules import RULES
from optkit.rules.math import abs, maximum, sign, sqrt, where

pytestmark = pytest.mark.gpu
STEPS = 10


@pytest.fixture(scope="module")
def cp():
    return pytest.importorskip("cupy")


def _host(x):
    import cupy

    return cupy.asnumpy(x) if isinstance(x, cupy.ndarray) else np.asarray(x)


def _run(config, backend, layout, dtype, to, steps=STEPS, **overrides):
    """(optimizer, param, base) after ``steps`` steps; ``to`` moves host arrays."""
    param, base = make_param(layout, dtype)
    base = to(base)
    param = base[:, 1] if LAYOUTS[layout] is None else base
    opt = config.make(param, backend=backend, **overrides)
    assert opt.backend == backend
    for g in make_grads(tuple(param.shape), dtype, steps):
        assert opt.step(to(g)) is True
    return opt, param, base


def _assert_states(fast, ref, **tol):
    assert fast.state.keys() == ref.state.keys()
    for name, entries in ref.state.items():
        assert fast.state[name].keys() == entries.keys()
        for key, want in entries.items():
            got = fast.state[name][key]
            assert got.dtype == want.dtype and got.shape == want.shape, (name, key)
            np.testing.assert_allclose(_host(got), _host(want), err_msg=key, **tol)


# --------------------------------------------------------------------------- B1
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_cupy_matches_reference(cp, config, dtype, layout):
    ref, p_ref, _ = _run(config, "numpy", layout, dtype, np.array)
    fast, p_fast, base = _run(config, "cupy", layout, dtype, cp.asarray)
    assert isinstance(p_fast, cp.ndarray) and p_fast.dtype == dtype
    for entries in fast.state.values():
        assert all(isinstance(a, cp.ndarray) for a in entries.values())
    tol = tolerance(dtype)
    np.testing.assert_allclose(_host(p_fast), p_ref, **tol)
    _assert_states(fast, ref, **tol)
    if LAYOUTS[layout] is None:  # the other columns of the base are untouched
        _, original = make_param(layout, dtype)
        np.testing.assert_array_equal(_host(base)[:, [0, 2]], original[:, [0, 2]])


def test_auto_selects_cupy_and_large_arrays_match(cp):
    config = next(c for c in CONFIGS if c.name == "adam")
    n = (1 << 20) + 3
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(n).astype(np.float32)
    p_ref, p_gpu = p0.copy(), cp.asarray(p0)
    ref, fast = config.make(p_ref, backend="numpy"), config.make(p_gpu)
    assert fast.backend == "cupy"
    for _ in range(3):
        g = rng.standard_normal(n).astype(np.float32)
        ref.step(g)
        fast.step(cp.asarray(g))
    np.testing.assert_allclose(_host(p_gpu), p_ref, **tolerance(np.float32))


# --------------------------------------------------------------------------- bitwise
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(RULES))
def test_gpu_equals_host_compiled_body_bitwise(cp, name, dtype):
    """Same body, IEEE division and sqrt, no FMA: the GPU and the g++ build agree
    bit for bit, NaN and inf included (the CPU suite ties the host build to NumPy)."""
    from _native import host_compiler, random_hypers, random_inputs, run_host

    if host_compiler()[0] is None:
        pytest.skip(host_compiler()[1])
    rule = RULES[name]
    for seed, kind in enumerate(["abs", "special"]):
        p, g, states = random_inputs(rule, dtype, kind, seed)
        hypers = random_hypers(rule, dtype, frozenset(), seed)
        want_p, want_s = run_host(rule, dtype, frozenset(), p, g, states, hypers)
        gp, gs = cp.asarray(p), [cp.asarray(s) for s in states]
        kernel = _exec.kernel_for("cupy", rule, frozenset())
        kernel(gp, cp.asarray(g), gs, _exec.cast_hypers("cupy", hypers, gp))
        np.testing.assert_array_equal(_host(gp), want_p, err_msg=f"{name} {kind} p")
        for s, got, want in zip(rule.state, gs, want_s):
            np.testing.assert_array_equal(_host(got), want, err_msg=f"{name} {kind} {s}")


# --------------------------------------------------------------------------- B2
@ok.rule(state=("m",))
def signed_rms(p, g, m, *, lr, beta):
    """A rule that exists only here: sign steps scaled by an RMS, with a cap."""
    m = beta * m + (1 - beta) * g * g
    step = where(abs(g) > 1.0, sign(g), g / sqrt(maximum(m, 1e-12)))
    return p - lr * step, m


class SignedRMS(ok.Optimizer):
    """An optimizer made here from :func:`signed_rms`."""

    def __init__(self, params, lr=0.1, beta=0.9, *, backend=None):
        super().__init__(params, dict(lr=lr, beta=beta), backend=backend)

    def rule_for(self, values):
        return signed_rms

    def host_hypers(self, values, t, group_state):
        return dict(lr=values["lr"], beta=values["beta"])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_rule_written_here_runs_on_cupy(cp, dtype):
    rng = np.random.default_rng(4)
    p0 = (3 * rng.standard_normal((4, 6))).astype(dtype)
    grads = [(2 * rng.standard_normal((4, 6))).astype(dtype) for _ in range(5)]
    host, gpu = p0.copy(), cp.asarray(p0)
    ref, fast = SignedRMS(host, backend="numpy"), SignedRMS(gpu, backend="cupy")
    for g in grads:
        ref.step(g)
        fast.step(cp.asarray(g))
    np.testing.assert_allclose(_host(gpu), host, **tolerance(dtype))
    _assert_states(fast, ref, **tolerance(dtype))
    assert not np.allclose(host, p0)


# --------------------------------------------------------------------------- B6
@pytest.mark.parametrize("on_device", [False, True], ids=["numpy-hypers", "cupy-hypers"])
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_population_equals_separate_runs(cp, config, on_device):
    arrays, separate = population_kwargs(config)
    if on_device:
        arrays = {
            k: tuple(cp.asarray(b) for b in v) if isinstance(v, tuple) else cp.asarray(v)
            for k, v in arrays.items()
        }
    K, n = len(separate), 5
    rng = np.random.default_rng(3)
    start = rng.standard_normal((K, n))
    grads = [rng.standard_normal((K, n)) for _ in range(6)]
    stacked = cp.asarray(start)
    opt = config.make(stacked, backend="cupy", **arrays)
    for g in grads:
        opt.step(cp.asarray(g))
    tol = tolerance(np.float64)
    for k, scalars in enumerate(separate):
        row = cp.asarray(start[k])
        single = config.make(row, backend="cupy", **scalars)
        for g in grads:
            single.step(cp.asarray(g[k]))
        np.testing.assert_allclose(_host(stacked[k]), _host(row), err_msg=f"{k}", **tol)
        for key, value in single.state["param"].items():
            got = _host(opt.state["param"][key][k])
            np.testing.assert_allclose(got, _host(value), err_msg=f"{k} {key}", **tol)
    assert not np.allclose(_host(stacked[0]), _host(stacked[1]))


# --------------------------------------------------------------------------- B4
if st is not None:

    @st.composite
    def cases(draw):
        config = draw(st.sampled_from(CONFIGS))
        dtype = draw(st.sampled_from([np.float32, np.float64]))
        shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3)))
        values = st.floats(-10, 10, allow_nan=False, allow_subnormal=False, width=32)
        size = int(np.prod(shape))

        def array():
            items = draw(st.lists(values, min_size=size, max_size=size))
            return np.array(items, dtype).reshape(shape)

        param, grads = array(), [array() for _ in range(draw(st.integers(1, 4)))]
        return config, param, grads, draw(st.floats(0.0, 0.5))

    @settings(max_examples=40, deadline=None)
    @given(cases())
    def test_random_inputs_agree_with_reference(cp, case):
        config, param, grads, lr = case
        host, gpu = param.copy(), cp.asarray(param)
        ref = config.make(host, backend="numpy", lr=lr)
        fast = config.make(gpu, backend="cupy", lr=lr)
        for g in grads:
            ref.step(g.copy())
            fast.step(cp.asarray(g))
        tol = tolerance(param.dtype)
        atol = tol["atol"] * (1.0 + float(np.max(np.abs(param), initial=0.0)))
        np.testing.assert_allclose(_host(gpu), host, rtol=tol["rtol"], atol=atol)
        _assert_states(fast, ref, rtol=tol["rtol"], atol=atol)

else:  # pragma: no cover

    def test_random_inputs_agree_with_reference():
        pytest.skip("hypothesis is not installed")


# --------------------------------------------------------------------------- S2
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_state_dict_moves_between_cupy_and_numpy(cp, config):
    rng = np.random.default_rng(7)
    p0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(8)]
    gpu = cp.asarray(p0)
    first = config.make({"w": gpu}, backend="cupy")
    for g in grads[:4]:
        first.step({"w": cp.asarray(g)})
    host = _host(gpu).copy()
    second = config.make({"w": host}, backend="numpy")
    second.load_state_dict(copy.deepcopy(first.state_dict()))
    for g in grads[4:6]:
        first.step({"w": cp.asarray(g)})
        second.step({"w": g})
    tol = tolerance(np.float64)
    np.testing.assert_allclose(_host(gpu), host, **tol)
    back = cp.asarray(host)
    third = config.make({"w": back}, backend="cupy")
    third.load_state_dict(second.state_dict())
    assert all(isinstance(a, cp.ndarray) for a in third.state["w"].values())
    for g in grads[6:]:
        first.step({"w": cp.asarray(g)})
        third.step({"w": cp.asarray(g)})
    np.testing.assert_allclose(_host(back), _host(gpu), **tol)
    _assert_states(third, first, **tol)
    assert third.step_count == first.step_count == len(grads)


@pytest.mark.parametrize("config", ONE_PER_RULE, ids=[c.name for c in ONE_PER_RULE])
def test_checkpoint_loads_onto_cupy(cp, config, tmp_path):
    from optkit.checkpoint import load_checkpoint, save_checkpoint

    rng = np.random.default_rng(8)
    w = cp.asarray(rng.standard_normal(6).astype(np.float32))
    opt = config.make(w, backend="cupy")
    grads = [cp.asarray(rng.standard_normal(6).astype(np.float32)) for _ in range(5)]
    for g in grads[:3]:
        opt.step(g)
    save_checkpoint(tmp_path / "run.npz", w=w, opt=opt)
    got = load_checkpoint(tmp_path / "run.npz", backend="cupy")
    assert isinstance(got["w"], cp.ndarray) and got["w"].dtype == np.float32
    resumed = config.make(got["w"], backend="cupy")
    resumed.load_state_dict(got["opt"])
    for g in grads[3:]:
        opt.step(g)
        resumed.step(g)
    np.testing.assert_array_equal(_host(got["w"]), _host(w))
    _assert_states(resumed, opt, rtol=0, atol=0)


# --------------------------------------------------------------------------- the rest
def test_flat_params_is_one_launch_per_dtype(cp, monkeypatch):
    from optkit._exec import cupy as cupy_exec

    launches = []
    real = cupy_exec.kernel_for

    def counting(rule, array_hypers):
        kernel = real(rule, array_hypers)

        def run(p, g, states, hypers):
            launches.append(p.dtype)
            kernel(p, g, states, hypers)

        return run

    monkeypatch.setattr(cupy_exec, "kernel_for", counting)
    rng = np.random.default_rng(1)
    shapes = {f"w{k}": (k + 2, 3) for k in range(20)}
    host = {
        n: rng.standard_normal(s).astype(np.float32 if k % 2 else np.float64)
        for k, (n, s) in enumerate(shapes.items())
    }
    flat = ok.FlatParams({n: cp.asarray(a) for n, a in host.items()})
    ref_flat = ok.FlatParams(host)
    opt, ref = ok.Adam(flat, lr=0.05), ok.Adam(ref_flat, lr=0.05, backend="numpy")
    for _ in range(3):
        grads, ref_grads = flat.zeros_like(), ref_flat.zeros_like()
        for n in host:
            g = rng.standard_normal(shapes[n]).astype(host[n].dtype)
            grads[n][...] = cp.asarray(g)
            ref_grads[n][...] = g
        opt.step(grads)
        ref.step(ref_grads)
    assert len(launches) == 3 * 2  # two dtypes, three steps
    for n in host:
        np.testing.assert_allclose(_host(flat[n]), ref_flat[n], **tolerance(host[n].dtype))


def test_nonfinite_gradients_are_caught_on_device(cp):
    from optkit._exec import cupy as cupy_exec

    assert cupy_exec.all_finite(cp.zeros(0, np.float32))
    assert cupy_exec.all_finite(cp.ones((3, 4), np.float64)[:, 1])
    for bad in (np.nan, np.inf, -np.inf):
        g = cp.ones(1000, np.float32)
        g[777] = bad
        assert not cupy_exec.all_finite(g)
    w = cp.ones(5, np.float32)
    opt = ok.Adam(w, lr=0.1)
    g = cp.ones(5, np.float32)
    g[2] = np.nan
    with pytest.raises(ok.NonFiniteGradientError, match="step 1"):
        opt.step(g)
    assert bool((w == 1).all()) and opt.step_count == 0
    assert ok.Adam(w, nonfinite="skip").step(g) is False


def test_backend_wiring(cp):
    with pytest.raises(TypeError, match=r"(?s)'numba'.*cupy"):
        ok.SGD(cp.ones(3), lr=0.1, backend="numba")
    with pytest.raises(TypeError, match=r"(?s)'cupy'.*numpy"):
        ok.SGD(np.ones(3), lr=0.1, backend="cupy")
    assert ok.SGD(cp.ones(3), lr=0.1).backend == "cupy"
    assert ok.backends()["cupy"]["available"] and ok.backends()["cupy"]["devices"]


def test_info_shows_the_gpu(cp, capsys):
    from optkit.cli import main

    assert main(["info"]) == 0
    assert "GPU 0:" in capsys.readouterr().out


def test_global_norm_clipping_on_cupy(cp):
    from optkit.clipping import clip_by_global_norm

    rng = np.random.default_rng(2)
    host = {"a": rng.standard_normal(50) * 10, "b": rng.standard_normal((4, 5))}
    gpu = {k: cp.asarray(v) for k, v in host.items()}
    norm_host = clip_by_global_norm(host, 1.0)
    norm_gpu = clip_by_global_norm(gpu, 1.0)
    np.testing.assert_allclose(float(norm_gpu), float(norm_host), rtol=1e-12)
    for k in host:
        assert isinstance(gpu[k], cp.ndarray)
        np.testing.assert_allclose(_host(gpu[k]), host[k], rtol=1e-12, atol=1e-15)
