"""The CuPy BatchNorm module's Python side, driven on the CPU against a stand-in CuPy.

:mod:`optkit.kernels.batch_norm_cupy` is imported with ``cupy`` replaced by a tiny
NumPy stand-in whose ``ElementwiseKernel``/``ReductionKernel`` evaluate the same
kernel bodies (:mod:`optkit.kernels._batch_norm_cuda`) as NumPy expressions over
broadcast arrays, and reject arguments CuPy would reject (a ``T`` parameter of
another dtype than the others, a ``float64`` parameter of another dtype, outputs
of the wrong shape). This checks argument order, ``(1, C, 1)`` broadcasting,
reduction axes and dtypes without a GPU; ``test_batch_norm_cuda_source.py``
compiles the bodies; ``test_batch_norm_gpu.py`` runs the real thing.
"""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import pytest

from optkit.kernels import batch_norm_reference as reference

MODULE = "optkit.kernels.batch_norm_cupy"


def _parse(params: str) -> list[tuple[str, str]]:
    return [tuple(p.split()) for p in params.split(",")]


def _namespace(params, args):
    """Bind parameter names to arguments, checking dtypes as CuPy would."""
    t_dtype = next(np.asarray(a).dtype for (kind, _), a in zip(params, args) if kind == "T")
    env = {}
    for (kind, name), value in zip(params, args):
        want = t_dtype if kind == "T" else np.dtype(kind)
        assert np.asarray(value).dtype == want, (
            f"{name}: {np.asarray(value).dtype} != {want}"
        )
        env[name] = value
    narrow = (lambda v: v) if t_dtype == np.float64 else (
        lambda v: np.asarray(v).astype(np.float32).astype(t_dtype)
    )  # fmt: skip
    env.update(optkit_wide=lambda v: np.asarray(v, np.float64), optkit_narrow_T=narrow)
    return env


class ElementwiseKernel:
    def __init__(self, in_params, out_params, operation, name, preamble=""):
        self.ins, self.outs = _parse(in_params), _parse(out_params)
        self.operation = operation.replace("optkit_narrow<T>(", "optkit_narrow_T(")
        self.calls = 0

    def __call__(self, *args):
        assert len(args) == len(self.ins) + len(self.outs)
        env = _namespace(self.ins + self.outs, args)
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
        for out in args[len(self.ins) :]:
            assert out.shape == shape, "Out shape is mismatched"
        exec(self.operation, env)
        for (_, name), out in zip(self.outs, args[len(self.ins) :]):
            out[...] = env[name]
        self.calls += 1


class ReductionKernel:
    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr,
                 identity, name, reduce_type=None, preamble=""):  # fmt: skip
        assert (reduce_expr, post_map_expr, identity) == ("a + b", "y = a", "0")
        assert out_params == "float64 y" and reduce_type == "double"
        self.ins, self.map_expr = _parse(in_params), map_expr

    def __call__(self, *args, axis):
        env = _namespace(self.ins, args)
        shape = np.broadcast_shapes(*(np.shape(a) for a in args))
        mapped = np.broadcast_to(eval(self.map_expr, env), shape)
        return mapped.sum(axis=axis, dtype=np.float64)


@pytest.fixture
def cupy_module(monkeypatch):
    """``optkit.kernels.batch_norm_cupy`` imported against the stand-in."""
    fake = types.ModuleType("cupy")
    fake.ndarray, fake.float32, fake.float64 = np.ndarray, np.float32, np.float64
    fake.asarray, fake.empty, fake.zeros_like = np.asarray, np.empty, np.zeros_like
    fake.ElementwiseKernel, fake.ReductionKernel = ElementwiseKernel, ReductionKernel
    monkeypatch.setitem(sys.modules, "cupy", fake)
    sys.modules.pop(MODULE, None)
    try:
        yield importlib.import_module(MODULE)
    finally:
        sys.modules.pop(MODULE, None)
        package = sys.modules["optkit.kernels"]
        if hasattr(package, "batch_norm_cupy"):
            delattr(package, "batch_norm_cupy")


@pytest.mark.parametrize("batch", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("shape3", [(6, 4, 5), (9, 3, 1), (1, 2, 7)])
def test_cupy_module_matches_reference_on_the_host(cupy_module, shape3, dtype, batch):
    rng = np.random.default_rng(0)
    channels = shape3[1]
    x3 = (rng.standard_normal(shape3) * 2 + 3).astype(dtype)
    dy3 = rng.standard_normal(shape3).astype(dtype)
    sd = np.float64 if dtype == "float64" else np.float32
    w = rng.uniform(0.5, 2, channels).astype(sd)
    b = rng.standard_normal(channels).astype(sd)
    mean, var = cupy_module.batch_stats(np, x3)
    want_mean, want_var = reference.batch_stats(np, x3)
    assert mean.dtype == var.dtype == sd
    np.testing.assert_allclose(mean, want_mean, rtol=1e-6)
    np.testing.assert_allclose(var, want_var, rtol=1e-6)
    invstd = (1.0 / np.sqrt(var + 1e-5)).astype(sd)
    for weight, bias in ((w, b), (None, None)):
        y = cupy_module.normalize(np, x3, mean, invstd, weight, bias)
        want = reference.normalize(np, x3, mean, invstd, weight, bias)
        assert y.dtype == x3.dtype and y.shape == x3.shape
        tol = 4e-3 if dtype == "float16" else 1e-5
        np.testing.assert_allclose(y.astype(float), want.astype(float), rtol=tol, atol=tol)
        got = cupy_module.backward(np, dy3, x3, mean, invstd, weight, batch)
        ref = reference.backward(np, dy3, x3, mean, invstd, weight, batch)
        for g, r in zip(got, ref):
            assert g.dtype == r.dtype and g.shape == r.shape
            scale = max(float(np.abs(r.astype(float)).max()), 1.0)
            np.testing.assert_allclose(
                g.astype(float), r.astype(float), rtol=tol, atol=tol * scale
            )


def test_cupy_module_rejects_numpy_arrays_when_real(cupy_module):
    with pytest.raises(TypeError, match="needs cupy arrays"):
        cupy_module.as_3d(np, [1.0, 2.0], (1, 2, 1))
    assert cupy_module.as_3d(np, np.ones((2, 3, 4)), (2, 3, 4)).shape == (2, 3, 4)
