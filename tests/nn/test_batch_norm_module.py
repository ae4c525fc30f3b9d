"""``optkit.nn.BatchNorm``: modes, running statistics, FlatParams + optimizer, state."""

from __future__ import annotations

import numpy as np
import pytest

import optkit as ok
from optkit.nn import BatchNorm


def batch(shape=(16, 3, 4), dtype=np.float32, mean=2.0):
    rng = np.random.default_rng(12)
    return (rng.standard_normal(shape) * 1.5 + mean).astype(dtype)


def test_defaults_follow_torch():
    bn = BatchNorm(3)
    assert bn.training and bn.affine and bn.track_running_stats
    assert bn.eps == 1e-5 and bn.momentum == 0.1 and bn.axis == 1
    assert bn.weight.tolist() == [1.0] * 3 and bn.bias.tolist() == [0.0] * 3
    assert bn.running_mean.tolist() == [0.0] * 3 and bn.running_var.tolist() == [1.0] * 3
    assert bn.num_batches_tracked.shape == () and int(bn.num_batches_tracked) == 0
    assert bn.weight.dtype == bn.running_var.dtype == np.float32
    assert "BatchNorm(3" in repr(bn)


def test_train_updates_running_stats_and_eval_uses_them(cpu_backend):
    bn = BatchNorm(3, dtype="float64", backend=cpu_backend)
    bn.weight[...] = [1.0, 2.0, 0.5]
    bn.bias[...] = [0.0, -1.0, 3.0]
    for _ in range(3):
        bn.forward(batch(dtype=np.float64))
    assert int(bn.num_batches_tracked) == 3
    rm, rv = bn.running_mean.copy(), bn.running_var.copy()
    assert bn.eval() is bn and not bn.training
    x = batch(dtype=np.float64)
    y = bn(x)
    want = (x - rm[:, None]) / np.sqrt(rv[:, None] + 1e-5) * bn.weight[:, None]
    np.testing.assert_allclose(y, want + bn.bias[:, None], rtol=1e-12)
    assert int(bn.num_batches_tracked) == 3
    np.testing.assert_array_equal(bn.running_mean, rm)
    dx = bn.backward(np.ones_like(x))
    np.testing.assert_allclose(
        dx, np.broadcast_to((bn.weight / np.sqrt(rv + 1e-5))[:, None], x.shape)
    )


def test_without_running_stats_both_modes_use_the_batch(cpu_backend):
    bn = BatchNorm(3, track_running_stats=False, backend=cpu_backend)
    x = batch()
    y_train = bn(x)
    y_eval = bn.eval()(x)
    np.testing.assert_array_equal(y_train, y_eval)
    assert (
        bn.running_mean is None
        and bn.running_var is None
        and bn.num_batches_tracked is None
    )
    assert set(bn.state_dict()) == {"weight", "bias"}


def test_momentum_none_module(cpu_backend):
    bn = BatchNorm(2, momentum=None, dtype="float64", backend=cpu_backend)
    xs = [batch((10, 2), np.float64) for _ in range(3)]
    for x in xs:
        bn(x)
    np.testing.assert_allclose(
        bn.running_mean, np.mean([x.mean(axis=0) for x in xs], axis=0)
    )


def test_channels_last_module(cpu_backend):
    x = batch((4, 5, 6, 3))
    a = BatchNorm(3, axis=-1, backend=cpu_backend)
    b = BatchNorm(3, backend=cpu_backend)
    ya = a(x)
    yb = b(np.ascontiguousarray(np.moveaxis(x, -1, 1)))
    np.testing.assert_allclose(np.moveaxis(yb, 1, -1), ya, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.running_var, b.running_var, rtol=1e-6)


def test_float16_input_with_float32_parameters(cpu_backend):
    bn = BatchNorm(3, backend=cpu_backend)
    x = batch(dtype=np.float16)
    y = bn(x)
    dx = bn.backward(np.ones_like(x))
    assert y.dtype == dx.dtype == np.float16
    assert bn.grad_weight.dtype == bn.running_mean.dtype == np.float32


def test_backward_sets_gradients_and_needs_a_forward(cpu_backend):
    bn = BatchNorm(3, backend=cpu_backend)
    with pytest.raises(RuntimeError, match="before forward"):
        bn.backward(np.ones((2, 3), np.float32))
    x = batch()
    bn(x)
    bn.backward(np.ones_like(x))
    np.testing.assert_allclose(bn.grad_bias, [64.0] * 3)
    np.testing.assert_allclose(bn.grad_weight, [0.0] * 3, atol=1e-4)
    no_affine = BatchNorm(3, affine=False, backend=cpu_backend)
    no_affine(x)
    no_affine.backward(x)
    assert no_affine.grad_weight is None and no_affine.parameters() == {}


def test_sgd_on_a_flatparams_updates_the_module(cpu_backend):
    """γ and β live in one buffer with the rest of a model; one SGD step moves them."""
    rng = np.random.default_rng(106)
    bn = BatchNorm(3, backend=cpu_backend)
    other = np.ones((2, 2), np.float32)
    flat = ok.FlatParams({"w": other, **bn.parameters("bn.")})
    grads = flat.zeros_like()
    bn.bind(flat, "bn.", grads=grads)
    assert np.shares_memory(bn.weight, flat.buffers["float32"])
    x = batch()
    dy = rng.standard_normal(x.shape).astype(np.float32)
    bn(x)
    bn.backward(dy)
    assert bn.grad_weight is grads["bn.weight"]
    expected_w = 1.0 - 0.1 * grads["bn.weight"]
    expected_b = 0.0 - 0.1 * grads["bn.bias"]
    grads["w"][...] = 1.0
    assert ok.SGD(flat, lr=0.1, backend=cpu_backend).step(grads)
    np.testing.assert_allclose(bn.weight, expected_w, rtol=1e-6)
    np.testing.assert_allclose(bn.bias, expected_b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(flat["w"], 0.9)
    bn.eval()  # the next forward uses the updated γ, β
    want = (x - bn.running_mean[:, None]) / np.sqrt(bn.running_var[:, None] + 1e-5)
    want = want * expected_w[:, None] + expected_b[:, None]
    np.testing.assert_allclose(bn(x), want, rtol=1e-5, atol=1e-5)


def test_constructor_binds_to_an_existing_flatparams():
    flat = ok.FlatParams({"layer.weight": np.full(4, 2.0, np.float32),
                          "layer.bias": np.zeros(4, np.float32)})  # fmt: skip
    bn = BatchNorm(4, params=flat, prefix="layer.")
    assert bn.weight.tolist() == [2.0] * 4
    flat["layer.weight"][...] = 3.0
    assert bn.weight.tolist() == [3.0] * 4
    with pytest.raises(ValueError, match="expected \\(5,\\)"):
        BatchNorm(5, params=flat, prefix="layer.")
    with pytest.raises(KeyError, match=r"nope\.weight"):
        BatchNorm(4, params=flat, prefix="nope.")
    with pytest.raises(ValueError, match="affine=False"):
        BatchNorm(4, affine=False, params=flat, prefix="layer.")


def test_state_dict_round_trip(cpu_backend):
    bn = BatchNorm(3, backend=cpu_backend)
    bn.weight[...] = [1.5, 2.0, 0.5]
    for _ in range(2):
        bn(batch())
    state = bn.state_dict()
    assert set(state) == {
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
    }
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert not np.shares_memory(state["weight"], bn.weight)
    fresh = BatchNorm(3, backend=cpu_backend)
    fresh.load_state_dict(state)
    x = batch()
    np.testing.assert_array_equal(fresh.eval()(x), bn.eval()(x))
    assert int(fresh.num_batches_tracked) == 2


def _with(**changes):
    def change(state):
        state.update(changes)
        for name, value in list(state.items()):
            if value is None:
                del state[name]

    return change


C3 = np.float32
#: kind -> (change of a valid state dict, error, pattern naming the culprit)
BAD_BN_LOADS = {
    "missing": (_with(bias=None), ValueError, r"missing keys \['bias'\]"),
    "unexpected": (_with(extra=np.zeros(3)), ValueError, r"unexpected keys \['extra'\]"),
    "shape": (
        _with(running_var=np.full(4, 7.0, C3)),
        ValueError,
        r"^running_var has shape",
    ),
    "dtype": (_with(weight=np.full(3, 1e300)), TypeError, r"^weight has dtype float64"),
    "not_an_array": (_with(bias=[0.0, 0.0, 0.0]), TypeError, r"^bias is a list"),
    "nan": (_with(running_mean=np.array([0, np.nan, 0], C3)), ValueError, "^running_mean"),
    "inf": (_with(weight=np.array([1, 1, np.inf], C3)), ValueError, "^weight holds"),
    "negative_variance": (
        _with(running_var=np.array([1, -1, 1], C3)),
        ValueError,
        "^running_var holds a negative",
    ),
    "negative_count": (
        _with(num_batches_tracked=np.array(-3, np.int64)),
        ValueError,
        "^num_batches_tracked is -3",
    ),
    "float_count": (
        _with(num_batches_tracked=np.array(2.0)),
        TypeError,
        "^num_batches_tracked has dtype float64",
    ),
}


def _bn_snapshot(bn: BatchNorm) -> dict:
    return {k: np.array(v, copy=True) for k, v in bn.state_dict().items()}


@pytest.mark.parametrize("kind", list(BAD_BN_LOADS))
def test_bad_load_names_the_key_and_changes_nothing(kind):
    change, error, pattern = BAD_BN_LOADS[kind]
    bn = BatchNorm(3)
    bn(batch())
    donor = BatchNorm(3)
    donor.weight[...] = 9.0
    for _ in range(2):
        donor(batch())
    state = donor.state_dict()
    change(state)
    before = _bn_snapshot(bn)
    with pytest.raises(error, match=pattern):
        bn.load_state_dict(state)
    after = _bn_snapshot(bn)
    assert after.keys() == before.keys()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], strict=True)


def test_load_into_a_read_only_layer_writes_nothing():
    bn = BatchNorm(3)
    bn.running_var = bn.running_var.copy()
    bn.running_var.flags.writeable = False
    state = BatchNorm(3).state_dict()
    state["weight"] = np.full(3, 2.0, np.float32)
    with pytest.raises(ValueError, match=r"^running_var: .*read-only"):
        bn.load_state_dict(state)
    assert bn.weight.tolist() == [1.0] * 3


@pytest.mark.torch
def test_load_accepts_a_torch_state_dict():
    torch = pytest.importorskip("torch")
    ref = torch.nn.BatchNorm1d(3)
    ref(torch.randn(8, 3))
    bn = BatchNorm(3)
    bn.load_state_dict(ref.state_dict())
    np.testing.assert_array_equal(bn.running_mean, ref.running_mean.numpy())
    assert int(bn.num_batches_tracked) == 1


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(num_features=0), ValueError, "num_features=0"),
        (dict(num_features=2.5), ValueError, "num_features=2.5"),
        (dict(num_features=3, eps=-1.0), ValueError, "eps=-1.0"),
        (dict(num_features=3, momentum=2.0), ValueError, "momentum=2.0"),
        (dict(num_features=3, dtype="int32"), TypeError, "float dtype"),
    ],
)
def test_invalid_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        BatchNorm(**kwargs)


def test_one_value_per_channel_raises_in_training_only(cpu_backend):
    bn = BatchNorm(3, backend=cpu_backend)
    with pytest.raises(
        ValueError, match="Expected more than 1 value per channel when training"
    ):
        bn(np.ones((1, 3), np.float32))
    assert int(bn.num_batches_tracked) == 0
    bn.eval()(np.ones((1, 3), np.float32))
