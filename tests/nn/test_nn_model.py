"""Sequential: parameters, gradients, modes, state dicts, freezing, the protocol."""

from __future__ import annotations

import numpy as np
import pytest
from _nn_support import numeric_grad, weighted_sum

import optkit as ok
from optkit.nn import BatchNorm, Dropout, Linear, ReLU, Sequential, Sigmoid, Tanh


def small_model(backend="numba", dtype="float64", seed=0):
    kw = dict(dtype=dtype, backend=backend)
    return Sequential(
        Linear(6, 5, seed=seed, **kw), BatchNorm(5, **kw), Tanh(backend=backend),
        Linear(5, 4, seed=seed + 1, **kw), Sigmoid(backend=backend),
        Linear(4, 3, seed=seed + 2, **kw),
    )  # fmt: skip


def test_model_gradients_match_finite_differences(cpu_backend):
    """Every parameter and the input, through BatchNorm in training mode."""
    rng = np.random.default_rng(0)
    model = small_model(cpu_backend)
    x = rng.standard_normal((7, 6))
    w_up = rng.standard_normal((7, 3))
    loss = weighted_sum(w_up)
    # BatchNorm updates its running statistics on each training forward; they do
    # not enter the training output, so finite differences are unaffected.
    value, grads = model.loss_and_grad(loss, x, None)
    analytic = {k: v.copy() for k, v in grads.items()}
    params = model.parameters()
    for name in params.keys():
        numeric = numeric_grad(lambda: loss(model.forward(x), None), params[name])
        np.testing.assert_allclose(
            analytic[name], numeric, rtol=1e-6, atol=1e-8, err_msg=name
        )
    model.forward(x)
    dx = model.backward(w_up, input_grad=True)
    np.testing.assert_allclose(
        dx, numeric_grad(lambda: loss(model.forward(x), None), x), rtol=1e-6, atol=1e-8
    )
    assert value == pytest.approx(float(np.sum(w_up * model.forward(x))))


def test_cross_entropy_model_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    model = small_model("numpy")
    x, y = rng.standard_normal((9, 6)), rng.integers(0, 3, 9)
    _, grads = model.loss_and_grad(ok.nn.cross_entropy, x, y)
    w = model.parameters()["3.weight"]
    numeric = numeric_grad(lambda: ok.nn.cross_entropy(model.forward(x), y), w)
    np.testing.assert_allclose(grads["3.weight"], numeric, rtol=1e-6, atol=1e-9)


def test_parameters_are_one_flatparams_with_torch_names():
    model = small_model()
    params = model.parameters()
    assert isinstance(params, ok.FlatParams)
    assert list(params.keys()) == ["0.weight", "0.bias", "1.weight", "1.bias",
                                   "3.weight", "3.bias", "5.weight", "5.bias"]  # fmt: skip
    assert list(params.buffers) == ["float64"]  # one buffer: one kernel call per step
    assert model.grads.same_layout(params) and model.parameters() is params
    assert np.shares_memory(model[0].weight, params.buffers["float64"])
    assert list(model.buffers()) == [
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
    ]
    opt = ok.Adam(params, lr=0.1)
    assert [len(g["params"]) for g in opt.param_groups] == [1]
    mixed = Sequential(Linear(3, 2, dtype="float32"), Linear(2, 2, dtype="float64"))
    with pytest.raises(TypeError, match="dtype float32 but its weight is float64"):
        mixed(np.ones((1, 3), np.float32))
    assert sorted(mixed.parameters().buffers) == ["float32", "float64"]


def test_step_moves_the_layers_in_place():
    model = small_model()
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    before = model[3].weight.copy()
    opt = ok.SGD(model.parameters(), lr=0.5)
    loss0, grads = model.loss_and_grad(ok.nn.cross_entropy, x, y)
    expected = before - 0.5 * grads["3.weight"]
    opt.step(grads)
    np.testing.assert_allclose(model[3].weight, expected)
    adam = ok.Adam(model.parameters(), lr=0.05)
    for _ in range(50):  # 8 samples: the model fits them
        adam.step(model.loss_and_grad(ok.nn.cross_entropy, x, y)[1])
    assert model.loss_and_grad(ok.nn.cross_entropy, x, y)[0] < 0.1 * loss0


def test_train_and_eval_semantics():
    rng = np.random.default_rng(3)
    model = Sequential(Linear(4, 6, seed=0), BatchNorm(6), ReLU(), Dropout(0.5, seed=1),
                       Linear(6, 2, seed=2))  # fmt: skip
    x = rng.standard_normal((16, 4)).astype(np.float32)
    stats = model[1].running_mean.copy()
    model.eval()
    assert not any(layer.training for layer in model)
    a, b = model(x), model(x)
    np.testing.assert_array_equal(a, b)  # no dropout, fixed statistics
    np.testing.assert_array_equal(model[1].running_mean, stats)
    model.train()
    c, d = model(x), model(x)
    assert not np.array_equal(c, d)  # dropout draws a new mask
    assert not np.array_equal(model[1].running_mean, stats)  # statistics moved
    assert int(model[1].num_batches_tracked) == 2
    stats = model[1].running_mean.copy()
    p = model.predict(x, batch_size=5)  # eval mode in batches, modes restored
    np.testing.assert_allclose(p, model.eval()(x), rtol=1e-6)
    model.train()
    model.predict(x)
    assert all(layer.training for layer in model)
    np.testing.assert_array_equal(model[1].running_mean, stats)


def test_state_dict_round_trip_and_atomic_load():
    model, other = small_model(seed=0), small_model(seed=10)
    model(np.ones((4, 6)))  # move the running statistics
    state = model.state_dict()
    assert list(state)[:6] == ["0.weight", "0.bias", "1.weight", "1.bias",
                               "1.running_mean", "1.running_var"]  # fmt: skip
    assert state["1.num_batches_tracked"].dtype == np.int64
    other.load_state_dict(state)
    for key, value in other.state_dict().items():
        np.testing.assert_array_equal(value, state[key])
    snapshot = other.state_dict()
    bad = dict(state, **{"5.bias": np.zeros(4)})
    with pytest.raises(ValueError, match=r"state_dict\['5.bias'\] has shape"):
        other.load_state_dict(bad)
    with pytest.raises(KeyError, match="unexpected keys \\['extra'\\]"):
        other.load_state_dict(dict(state, extra=np.zeros(1)))
    with pytest.raises(TypeError, match="dtype"):
        other.load_state_dict(dict(state, **{"0.bias": state["0.bias"].astype(np.float32)}))
    for key, value in other.state_dict().items():  # nothing was written
        np.testing.assert_array_equal(value, snapshot[key])
    missing, unexpected = other.load_state_dict(
        {"0.bias": state["0.bias"] + 1}, strict=False
    )
    assert "0.weight" in missing and unexpected == []
    np.testing.assert_array_equal(other[0].bias, state["0.bias"] + 1)


def frozen_setup(opt_cls, **options):
    rng = np.random.default_rng(4)
    model = small_model()
    x, y = rng.standard_normal((10, 6)), rng.integers(0, 3, 10)
    model.freeze("0").freeze("1.weight")
    opt = opt_cls(model.parameters(), **options)
    return model, opt, x, y


@pytest.mark.parametrize(
    "opt_cls, options",
    [
        (ok.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
        (ok.AdamW, dict(lr=0.1, weight_decay=0.5)),
    ],
)
def test_frozen_parameters_never_move_and_get_no_gradient(opt_cls, options):
    model, opt, x, y = frozen_setup(opt_cls, **options)
    assert model.frozen == ["0.weight", "0.bias", "1.weight"]
    assert "0.weight" not in model.parameters().keys()
    assert list(model.parameters().buffers) == ["float64"]
    frozen_before = {k: v.copy() for k, v in model.named_parameters().items()}
    for _ in range(5):
        _, grads = model.loss_and_grad(ok.nn.cross_entropy, x, y)
        opt.step(grads)
    after = model.named_parameters()
    for key in ("0.weight", "0.bias", "1.weight"):
        np.testing.assert_array_equal(after[key], frozen_before[key])
    for key in ("1.bias", "3.weight", "5.bias"):
        assert not np.array_equal(after[key], frozen_before[key])
    assert model[0].grad_weight is None  # no matmul for a frozen weight


def test_frozen_prefix_stops_backward_early_and_gradients_equal_the_full_ones():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((10, 6)), rng.integers(0, 3, 10)
    full = small_model()
    _, grads_full = full.loss_and_grad(ok.nn.cross_entropy, x, y)
    part = small_model().freeze("0").freeze("1")
    calls = []
    original = part[2].backward
    part[2].backward = lambda dy: calls.append(1) or original(dy)
    _, grads = part.loss_and_grad(ok.nn.cross_entropy, x, y)
    assert calls == []  # layer 2 sits below every trainable layer: skipped
    for key in grads.keys():
        np.testing.assert_allclose(grads[key], grads_full[key], rtol=1e-12)


def test_freeze_unfreeze_and_stale_optimizers():
    model = small_model()
    old = model.parameters()
    stale = ok.SGD(old, lr=0.1)
    model.freeze("3")
    assert model.parameters() is not old
    x, y = np.ones((4, 6)), np.array([0, 1, 2, 0])
    _, grads = model.loss_and_grad(ok.nn.cross_entropy, x, y)
    with pytest.raises(ValueError, match="layout"):
        stale.step(grads)  # its parameters changed
    model.unfreeze()
    assert model.frozen == [] and model.grads.same_layout(old)
    _, grads = model.loss_and_grad(ok.nn.cross_entropy, x, y)
    with pytest.raises(Exception, match=r"read-only|readonly"):
        stale.step(grads)  # same layout, but the old buffers are retired
    with pytest.raises(ValueError, match="no parameter matches prefix '9'"):
        model.freeze("9")
    assert model.freeze("0") is model.freeze("0")  # idempotent, no re-homing
    model.freeze()
    with pytest.raises(ValueError, match="every parameter"):
        model.parameters()
    np.testing.assert_allclose(model.predict(x), model.unfreeze().predict(x))


def test_layers_moved_to_a_new_model_keep_values_and_retire_the_old_one():
    first = Sequential(Linear(6, 5, seed=0), Tanh(), Linear(5, 3, seed=1))
    w = first[0].weight.copy()
    second = Sequential(first[0], first[1], Linear(5, 5, seed=2), Tanh(), Linear(5, 3))
    np.testing.assert_array_equal(second[0].weight, w)
    assert np.shares_memory(second[0].weight, second.parameters().buffers["float32"])
    with pytest.raises(RuntimeError, match="belong to another model"):
        first(np.ones((2, 6), np.float32))
    with pytest.raises(ValueError, match="appears twice"):
        relu = ReLU()
        Sequential(Linear(2, 2), relu, relu)


def test_construction_checks_widths_and_the_protocol():
    with pytest.raises(
        ValueError, match="takes 6 features but the layer before it gives 5"
    ):
        Sequential(Linear(4, 5), ReLU(), BatchNorm(6))
    with pytest.raises(TypeError, match="lacks"):
        Sequential(Linear(4, 5), object())
    with pytest.raises(ValueError, match=r"without '\.'"):
        Sequential({"a.b": Linear(2, 2)})
    with pytest.raises(ValueError, match="at least one layer"):
        Sequential()
    named = Sequential({"encoder": Linear(3, 4), "act": ReLU(), "head": Linear(4, 2)})
    assert list(named.state_dict()) == [
        "encoder.weight",
        "encoder.bias",
        "head.weight",
        "head.bias",
    ]
    assert named["head"] is named[2]


class Scale:
    """A layer written outside optkit: y = x * gamma, bound like BatchNorm."""

    def __init__(self, n):
        self.gamma = np.full(n, 2.0)
        self.training = True
        self._grads, self._prefix = None, ""

    def parameters(self, prefix=""):
        return {f"{prefix}gamma": self.gamma}

    def bind(self, params, prefix="", *, grads=None):
        self.gamma, self._grads, self._prefix = params[f"{prefix}gamma"], grads, prefix
        return self

    def forward(self, x):
        self._x = x
        return x * self.gamma

    def backward(self, dy):
        if self._grads is not None:
            self._grads[f"{self._prefix}gamma"][...] = np.sum(dy * self._x, axis=0)
        return dy * self.gamma

    def train(self, mode=True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def state_dict(self):
        return {"gamma": self.gamma.copy()}

    def load_state_dict(self, state):
        self.gamma[...] = state["gamma"]


def test_a_third_party_layer_plugs_in():
    rng = np.random.default_rng(6)
    model = Sequential(
        Linear(3, 4, dtype="float64", seed=0),
        Scale(4),
        Linear(4, 2, dtype="float64", seed=1),
    )
    assert "1.gamma" in model.parameters().keys()
    x, w_up = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    loss = weighted_sum(w_up)
    _, grads = model.loss_and_grad(loss, x, None)
    numeric = numeric_grad(
        lambda: loss(model.forward(x), None), model.parameters()["1.gamma"]
    )
    np.testing.assert_allclose(grads["1.gamma"], numeric, rtol=1e-7, atol=1e-9)
    model.freeze("1")  # a whole foreign layer can be frozen
    assert "1.gamma" in model.frozen
    model.unfreeze()
    assert model.state_dict()["1.gamma"].shape == (4,)


def test_partly_frozen_batchnorm_gets_its_bias_gradient_only():
    rng = np.random.default_rng(7)
    model = small_model().freeze("1.weight")
    x, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    gamma = model[1].weight.copy()
    opt = ok.SGD(model.parameters(), lr=0.5)
    _, grads = model.loss_and_grad(ok.nn.cross_entropy, x, y)
    reference = small_model()
    _, full = reference.loss_and_grad(ok.nn.cross_entropy, x, y)
    np.testing.assert_allclose(grads["1.bias"], full["1.bias"], rtol=1e-12)
    opt.step(grads)
    np.testing.assert_array_equal(model[1].weight, gamma)
