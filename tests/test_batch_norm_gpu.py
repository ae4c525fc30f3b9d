"""BatchNorm on CuPy (needs a CUDA device; every test is marked ``gpu``).

The CuPy kernels must agree with the NumPy reference on every dtype, layout and
mode, keep arrays on the device (library, dtype), update running statistics in
place on the device, replay the torch goldens in float64, and back the module.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from optkit.nn.functional import batch_norm, batch_norm_backward
from optkit.nn import BatchNorm

pytestmark = pytest.mark.gpu

TOL = {"float64": 1e-10, "float32": 2e-5, "float16": 4e-3}
LAYOUTS = [((64, 32), 1), ((8, 6, 9, 7), 1), ((8, 9, 7, 6), -1), ((3, 5, 4), 0)]


def _cupy():
    return pytest.importorskip("cupy")


def _inputs(shape, axis, dtype, seed=0):
    rng = np.random.default_rng(seed)
    channels = shape[axis]
    pdt = "float64" if dtype == "float64" else "float32"
    x = (rng.standard_normal(shape) * 2 + 5).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    w = rng.uniform(0.5, 2, channels).astype(pdt)
    b = rng.standard_normal(channels).astype(pdt)
    rm = rng.standard_normal(channels).astype(pdt)
    rv = rng.uniform(0.5, 2, channels).astype(pdt)
    return x, dy, w, b, rm, rv


def _close(got, want, dtype, what):
    cupy = _cupy()
    assert isinstance(got, cupy.ndarray), f"{what} left the device"
    assert got.dtype == want.dtype, what
    host = cupy.asnumpy(got).astype(np.float64)
    want = want.astype(np.float64)
    scale = max(float(np.max(np.abs(want))), 1.0)
    np.testing.assert_allclose(
        host, want, rtol=TOL[dtype], atol=TOL[dtype] * scale, err_msg=what
    )


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize(("shape", "axis"), LAYOUTS)
def test_cupy_matches_the_reference(shape, axis, dtype, training):
    cupy = _cupy()
    x, dy, w, b, rm, rv = _inputs(shape, axis, dtype)
    g_rm, g_rv = cupy.asarray(rm), cupy.asarray(rv)
    y, cache = batch_norm(x, w, b, rm, rv, training=training, axis=axis, backend="numpy")
    want = (y, *batch_norm_backward(dy, cache))
    g_y, g_cache = batch_norm(
        cupy.asarray(x), cupy.asarray(w), cupy.asarray(b), g_rm, g_rv,
        training=training, axis=axis, backend="cupy",
    )  # fmt: skip
    got = (g_y, *batch_norm_backward(cupy.asarray(dy), g_cache))
    for name, g, r in zip(("y", "dx", "dweight", "dbias"), got, want):
        _close(g, r, dtype, name)
    _close(g_rm, rm, "float32" if dtype == "float16" else dtype, "running_mean")
    _close(g_rv, rv, "float32" if dtype == "float16" else dtype, "running_var")


def test_cupy_accuracy_with_a_large_mean():
    cupy = _cupy()
    x = (np.random.default_rng(5).standard_normal((8192, 64)) + 1e4).astype(np.float32)
    truth = x.astype(np.float64).var(axis=0, ddof=1)
    rm, rv = cupy.zeros(64, cupy.float64), cupy.zeros(64, cupy.float64)
    batch_norm(
        cupy.asarray(x), None, None, rm, rv, training=True, momentum=1.0, backend="cupy"
    )
    assert np.max(np.abs(cupy.asnumpy(rv) - truth) / truth) <= 1e-5


def test_cupy_non_contiguous_input_and_cumulative_average():
    cupy = _cupy()
    base = cupy.asarray(np.random.default_rng(1).standard_normal((6, 8, 10)))
    x = base[:, ::2, 1:]
    rm, rv = cupy.zeros(4), cupy.ones(4)
    nbt = cupy.zeros((), cupy.int64)
    for _ in range(2):
        y, _ = batch_norm(x, None, None, rm, rv, training=True, momentum=None,
                              num_batches_tracked=nbt, backend="cupy")  # fmt: skip
    assert int(nbt) == 2
    want, _ = batch_norm(
        cupy.asnumpy(x), None, None, None, None, training=True, backend="numpy"
    )
    _close(y, want, "float64", "y")
    host = cupy.asnumpy(x)
    np.testing.assert_allclose(cupy.asnumpy(rm), host.mean(axis=(0, 2)), rtol=1e-12)


def test_cupy_replays_the_torch_goldens():
    cupy = _cupy()
    path = Path(__file__).parent / "data" / "batchnorm_goldens.npz"
    with np.load(path, allow_pickle=False) as z:
        g = {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("bn2d_cumulative/")}
        steps = json.loads(str(z["configs"]))["bn2d_cumulative"]["batches"]
    w, b = cupy.asarray(g["weight"]), cupy.asarray(g["bias"])
    rm, rv, nbt = cupy.zeros(3), cupy.ones(3), cupy.zeros((), cupy.int64)
    for step in range(steps + 1):
        y, cache = batch_norm(
            cupy.asarray(g["x"][step]), w, b, rm, rv, training=step < steps,
            momentum=None, num_batches_tracked=nbt, backend="cupy",
        )  # fmt: skip
        dx, dw, db = batch_norm_backward(cupy.asarray(g["dy"][step]), cache)
        for name, got in (("y", y), ("dx", dx), ("dweight", dw), ("dbias", db),
                          ("running_mean", rm), ("running_var", rv)):  # fmt: skip
            np.testing.assert_allclose(
                cupy.asnumpy(got), g[name][step], rtol=1e-6, atol=1e-12
            )


def test_cupy_module_state_and_errors():
    cupy = _cupy()
    bn = BatchNorm(3, backend="cupy")
    assert isinstance(bn.weight, cupy.ndarray) and isinstance(
        bn.num_batches_tracked, cupy.ndarray
    )
    x = cupy.asarray(
        np.random.default_rng(2).standard_normal((16, 3, 5)).astype(np.float32)
    )
    y = bn(x)
    dx = bn.backward(cupy.ones_like(x))
    assert isinstance(y, cupy.ndarray) and isinstance(dx, cupy.ndarray)
    assert int(bn.num_batches_tracked) == 1
    state = bn.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    cpu = BatchNorm(3, backend="numpy")
    cpu.load_state_dict(state)
    np.testing.assert_allclose(
        cpu.eval()(cupy.asnumpy(x)), cupy.asnumpy(bn.eval()(x)), rtol=1e-5
    )
    back = BatchNorm(3, backend="cupy")
    back.load_state_dict(cpu.state_dict())
    np.testing.assert_array_equal(cupy.asnumpy(back.running_var), state["running_var"])
    with pytest.raises(
        ValueError, match="Expected more than 1 value per channel when training"
    ):
        BatchNorm(3, backend="cupy")(cupy.ones((1, 3), cupy.float32))
    with pytest.raises(TypeError, match="needs numpy arrays"):
        batch_norm(x, None, None, None, None, training=True, backend="numba")
