"""FlatParams: one contiguous buffer per dtype with named views, so that an optimizer
makes one executor call per group and dtype whatever the number of arrays."""

from __future__ import annotations

import numpy as np
import pytest
from _support.backends import tolerance
from _support.configs import BY_NAME, CONFIG_IDS, CONFIGS, assert_snapshot_equal, snapshot

import optkit as ok
from optkit import _backend


def _arrays(n: int, dtypes=(np.float32,), seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (4,), (), (2, 1, 3), (0,), (5,)]
    return {
        f"a{i}": np.asarray(rng.standard_normal(shapes[i % len(shapes)])).astype(
            dtypes[i % len(dtypes)]
        )
        for i in range(n)
    }


@pytest.fixture
def count_calls(monkeypatch):
    """Wrap the ``update`` (and the fused ``update_checked``, where an executor has
    one and it applies) of the numpy and numba executors; count calls."""
    calls = []
    for name in ("numpy", "numba"):
        module = _backend.executor(name)
        real = module.update

        def wrapped(rule, p, g, states, values, _real=real, _name=name):
            calls.append((_name, rule.name, p.dtype, p.shape))
            return _real(rule, p, g, states, values)

        monkeypatch.setattr(module, "update", wrapped)
        fused = getattr(module, "update_checked", None)
        if fused is not None:

            def checked(rule, p, g, states, values, _real=fused, _name=name):
                bad = _real(rule, p, g, states, values)
                if bad is not None:  # this call was the step's one executor call
                    calls.append((_name, rule.name, p.dtype, p.shape))
                return bad

            monkeypatch.setattr(module, "update_checked", checked)
    return calls


# --------------------------------------------------------------------------- layout
def test_views_share_one_buffer_per_dtype():
    src = _arrays(5, dtypes=(np.float32, np.float64))
    fp = ok.FlatParams(src)
    assert set(fp.buffers) == {"float32", "float64"}
    sizes = {"float32": 0, "float64": 0}
    for name, a in src.items():
        view = fp[name]
        key = a.dtype.name
        sizes[key] += a.size
        assert view.dtype == a.dtype and view.shape == a.shape
        np.testing.assert_array_equal(view, a)
        assert a.size == 0 or np.shares_memory(view, fp.buffers[key])
        assert not np.shares_memory(view, a)  # the input was copied
    assert {k: b.shape for k, b in fp.buffers.items()} == {
        k: (n,) for k, n in sizes.items()
    }
    assert all(b.flags.c_contiguous for b in fp.buffers.values())
    fp.buffers["float32"][:] = 7.0  # writing the buffer is seen through the views
    assert all((fp[n] == 7).all() for n, a in src.items() if a.dtype == np.float32)
    fp["a1"][...] = -1.0
    key, offset, shape = fp.layout["a1"]
    assert shape == (4,)
    np.testing.assert_array_equal(fp.buffers[key][offset : offset + 4], -1.0)
    assert list(fp.keys()) == list(src) and len(fp) == 5


def test_zeros_like_has_the_same_layout():
    fp = ok.FlatParams(_arrays(4, dtypes=(np.float32, np.float64)))
    z = fp.zeros_like()
    assert fp.same_layout(z) and z.layout == fp.layout
    assert all((b == 0).all() for b in z.buffers.values())
    assert not any(np.shares_memory(z.buffers[k], fp.buffers[k]) for k in fp.buffers)
    other = ok.FlatParams(_arrays(3))
    assert not fp.same_layout(other)


# --------------------------------------------------------------------------- one call
@pytest.mark.parametrize("n_arrays", [1, 6, 40])
def test_one_executor_call_per_dtype(n_arrays, cpu_backend, count_calls):
    fp = ok.FlatParams(_arrays(n_arrays))
    opt = ok.Adam(fp, lr=0.01, backend=cpu_backend)
    grads = fp.zeros_like()
    for k in grads.buffers:
        grads.buffers[k][:] = 0.5
    for _ in range(3):
        opt.step(grads)
    assert len(count_calls) == 3
    assert {c[0] for c in count_calls} == {cpu_backend}
    assert set(opt.state) == {"flat:float32"}


def test_calls_per_group_and_dtype(cpu_backend, count_calls):
    two = ok.FlatParams(_arrays(7, dtypes=(np.float32, np.float64)))
    one = ok.FlatParams(_arrays(3, seed=1))
    opt = ok.SGD(
        [{"params": two}, {"params": one, "lr": 0.0}],
        lr=0.1,
        momentum=0.9,
        backend=cpu_backend,
    )
    opt.step([two.zeros_like(), one.zeros_like()])
    assert len(count_calls) == 3  # (group 0: float32, float64) + (group 1: float32)
    assert sorted(str(c[2]) for c in count_calls) == ["float32", "float32", "float64"]


def test_separate_arrays_make_one_call_each(cpu_backend, count_calls):
    """The control: a dict of separate arrays costs one call per array."""
    params = _arrays(6)
    opt = ok.Adam(params, lr=0.01, backend=cpu_backend)
    opt.step({k: np.ones_like(v) for k, v in params.items()})
    assert len(count_calls) == 6


# --------------------------------------------------------------------------- same result
def _flat_vs_dict(config, cpu_backend, grads_as):
    src = _arrays(6, dtypes=(np.float32, np.float64), seed=3)
    fp = ok.FlatParams(src)
    separate = {k: v.copy() for k, v in src.items()}
    flat_opt = config.make(fp, backend=cpu_backend)
    dict_opt = config.make(separate, backend=cpu_backend)
    rng = np.random.default_rng(9)
    for _ in range(5):
        g = {
            k: np.asarray(rng.standard_normal(v.shape)).astype(v.dtype)
            for k, v in src.items()
        }
        if grads_as == "flat":
            flat_g = fp.zeros_like()
            for k, v in g.items():
                flat_g[k][...] = v
        else:
            flat_g = g
        assert flat_opt.step(flat_g) is True
        dict_opt.step(g)
    return src, fp, separate, flat_opt


@pytest.mark.parametrize("grads_as", ["flat", "dict"])
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_flat_equals_separate_arrays(config, cpu_backend, grads_as):
    src, fp, separate, flat_opt = _flat_vs_dict(config, cpu_backend, grads_as)
    for name, want in separate.items():
        got = fp[name]
        assert got.dtype == want.dtype
        if cpu_backend == "numpy":
            np.testing.assert_array_equal(got, want, err_msg=name)
        else:
            np.testing.assert_allclose(got, want, err_msg=name, **tolerance(want.dtype))
        if want.size:
            assert not np.array_equal(got, src[name])
    assert set(flat_opt.state) == {"flat:float32", "flat:float64"}
    for key, entries in flat_opt.state.items():
        for value in entries.values():
            assert value.dtype.name == key.split(":")[1]


# --------------------------------------------------------------------------- errors
def test_array_hyperparameters_on_flat_params_raise():
    fp = ok.FlatParams(_arrays(3))
    with pytest.raises(ValueError, match="FlatParams"):
        ok.SGD(fp, lr=np.full(1, 0.1))
    with pytest.raises(ValueError, match="FlatParams"):
        ok.Adam(fp, betas=(np.full(1, 0.9), 0.999))


@pytest.mark.parametrize(
    "kind, error, pattern",
    [
        ("missing", ValueError, r"missing \['a2'\]"),
        ("extra", ValueError, r"unexpected \['zz'\]"),
        ("shape", ValueError, r"'a2'.*shape"),
        ("dtype", TypeError, r"'a2'.*float64"),
        ("other_layout", ValueError, "layout"),
        ("list", TypeError, "FlatParams"),
    ],
)
def test_bad_grads_for_flat_params(kind, error, pattern, cpu_backend):
    src = _arrays(3)
    fp = ok.FlatParams(src)
    opt = ok.RMSprop(fp, lr=0.1, momentum=0.5, backend=cpu_backend)
    opt.step({k: np.ones_like(v) for k, v in src.items()})
    grads = {k: np.ones_like(v) for k, v in src.items()}
    if kind == "missing":
        del grads["a2"]
    elif kind == "extra":
        grads["zz"] = np.ones(1, np.float32)
    elif kind == "shape":
        grads["a2"] = np.ones(3, np.float32)  # a2 is 0-d: the LAST one is bad
    elif kind == "dtype":
        grads["a2"] = np.ones((), np.float64)
    elif kind == "other_layout":
        grads = ok.FlatParams({k: np.ones_like(v) for k, v in reversed(src.items())})
    else:
        grads = list(grads.values())
    before = snapshot(opt, list(fp.buffers.values()))
    with pytest.raises(error, match=pattern):
        opt.step(grads)
    assert_snapshot_equal(before, snapshot(opt, list(fp.buffers.values())))


@pytest.mark.parametrize(
    "arrays, error, pattern",
    [
        ({"w": np.ones(2), "n": np.arange(2)}, TypeError, r"'n'.*int"),
        ({}, TypeError, "non-empty"),
        ({"w": np.ones(2), "s": __import__("array_api_strict").ones(2)}, TypeError, "'s'"),
    ],
    ids=["integer", "empty", "two_libraries"],
)
def test_flat_params_construction_errors(arrays, error, pattern):
    with pytest.raises(error, match=pattern):
        ok.FlatParams(arrays)


def test_flat_params_state_dict_round_trip(cpu_backend):
    config = BY_NAME["adam_amsgrad_wd"]
    src = _arrays(4, dtypes=(np.float32, np.float64))
    a, b = ok.FlatParams(src), ok.FlatParams(src)
    opt_a = config.make(a, backend=cpu_backend)
    g = a.zeros_like()
    for k in g.buffers:
        g.buffers[k][:] = 0.25
    opt_a.step(g)
    opt_b = config.make(b, backend=cpu_backend)
    opt_b.load_state_dict(opt_a.state_dict())
    for buf_b, buf_a in zip(b.buffers.values(), a.buffers.values()):
        buf_b[...] = buf_a
    opt_a.step(g)
    opt_b.step(g)
    for k in a.buffers:
        np.testing.assert_array_equal(a.buffers[k], b.buffers[k])


# --------------------------------------------------------------------------- copies, adoption
def test_flat_params_copies_its_inputs_and_says_so(cpu_backend):
    w = np.ones(3)
    fp = ok.FlatParams({"w": w})
    ok.SGD(fp, lr=0.5, backend=cpu_backend).step({"w": np.ones(3)})
    assert w.tolist() == [1.0, 1.0, 1.0]  # the caller's array never moves
    assert fp["w"].tolist() == [0.5, 0.5, 0.5]
    assert "copies of the given arrays" in repr(fp) and not fp.adopted
    assert "copied" in ok.FlatParams.__doc__


def test_from_buffers_adopts_memory_without_copying(cpu_backend):
    theta = np.arange(10.0)
    layout = {"w": ("float64", 0, (2, 3)), "b": ("float64", 6, (3,))}
    fp = ok.FlatParams.from_buffers({"float64": theta}, layout)
    assert fp.buffers["float64"] is theta and fp.adopted
    assert "adopted buffers" in repr(fp)
    assert np.shares_memory(fp["w"], theta) and fp["b"].tolist() == [6.0, 7.0, 8.0]
    grads = fp.zeros_like()
    grads["b"][...] = 1.0
    ok.SGD(fp, lr=0.5, backend=cpu_backend).step(grads)
    np.testing.assert_array_equal(theta, [0, 1, 2, 3, 4, 5, 5.5, 6.5, 7.5, 9])
    twin = ok.FlatParams.from_buffers(fp.buffers, fp.layout)  # shares fp's memory
    assert twin.layout == fp.layout and np.shares_memory(twin["w"], fp["w"])


def test_from_buffers_packs_shapes_in_order_for_one_buffer():
    buf = np.zeros(7, np.float32)
    fp = ok.FlatParams.from_buffers({"float32": buf}, {"w": (2, 3), "s": (), "e": 0})
    assert fp.layout == {
        "w": ("float32", 0, (2, 3)),
        "s": ("float32", 6, ()),
        "e": ("float32", 7, (0,)),
    }


@pytest.mark.parametrize(
    "buffers, layout, error, pattern",
    [
        ({}, {"w": 3}, TypeError, "non-empty"),
        ({"float64": np.ones((2, 3))}, {"w": 3}, ValueError, "1-D and C-contiguous"),
        ({"float64": np.ones(6)[::2]}, {"w": 3}, ValueError, "C-contiguous"),
        ({"float32": np.ones(3)}, {"w": 3}, ValueError, r"dtype float64, not float32"),
        ({"int64": np.arange(3)}, {"w": 3}, TypeError, "int64"),
        ({"float64": np.ones(3)}, {"w": 4}, ValueError, r"'w'.*\[0, 4\).*length 3"),
        ({"float64": np.ones(3)}, {"w": ("float64", -1, (1,))}, ValueError, "'w'"),
        ({"float64": np.ones(3)}, {"w": ("float32", 0, (1,))}, ValueError, "'float32'"),
        ({"float64": np.ones(3)}, {"w": (1.5,)}, TypeError, "'w'"),
        (
            {"float64": np.ones(4)},
            {"a": ("float64", 0, (3,)), "b": ("float64", 2, (2,))},
            ValueError,
            "'a' and 'b' overlap",
        ),
        (
            {"float64": np.ones(3), "float32": np.ones(3, np.float32)},
            {"w": (3,)},
            ValueError,
            "several buffers",
        ),
        ({"float64": np.ones(3)}, {}, TypeError, "layout"),
    ],
    ids=[
        "empty",
        "two_dimensional",
        "strided",
        "wrong_key",
        "integer",
        "too_long",
        "negative_offset",
        "unknown_buffer",
        "bad_shape",
        "overlap",
        "ambiguous",
        "empty_layout",
    ],
)
def test_from_buffers_errors(buffers, layout, error, pattern):
    with pytest.raises(error, match=pattern):
        ok.FlatParams.from_buffers(buffers, layout)


def test_dict_gradients_on_flat_params_over_several_steps(cpu_backend):
    arrays = {"w": np.linspace(-1, 1, 6).reshape(2, 3), "b": np.array([0.5, -0.5])}
    flat = ok.FlatParams(arrays)
    separate = {k: v.copy() for k, v in arrays.items()}
    opt_flat = ok.Adam(flat, lr=0.1, backend=cpu_backend)
    opt_sep = ok.Adam(separate, lr=0.1, backend=cpu_backend)
    for step in range(4):
        opt_flat.step({k: (step + 1) * flat[k] for k in flat.keys()})
        opt_sep.step({k: (step + 1) * v for k, v in separate.items()})
    for k in arrays:
        np.testing.assert_allclose(flat[k], separate[k], rtol=1e-12)
