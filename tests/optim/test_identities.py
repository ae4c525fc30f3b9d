"""The textbook identities and convergence.

- Adam's first step is ``-lr * sign(g)`` whatever the gradient's magnitude.
- momentum=0 SGD is plain SGD; RMSprop with ``eps_in_sqrt`` and Adam with
  ``beta1 = 0`` equal their closed forms written out here in NumPy.
- every optimizer reaches (1, 1) on a parabola and on Rosenbrock from (0, 0).

:data:`_support.goldens.OPTIM_DB` drives the first-step and convergence tests; the identities run on
the golden problem of ``tests/test_torch_parity.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from _support.goldens import DB_IDS, OPTIM_DB, PROBLEM, golden_gradient

import optkit as ok

# ===================================================================== first step
#: Every sign and magnitude from 1e-3 to 1e3 in one gradient.
FIRST_GRAD = np.array([1e-3, -1e-2, 1e-1, -1.0, 1e1, -1e2, 1e3, -1e-3])
FIRST_VARIANTS = {
    "default": {},
    "betas": {"betas": (0.5, 0.9)},
    "amsgrad": {"amsgrad": True},
    "maximize": {"maximize": True},
    "weight_decay": {"weight_decay": 0.1},
}
FIRST_CASES = [
    pytest.param(info, variant, id=f"{info.id}-{variant}")
    for info in OPTIM_DB
    if info.first_step_is_lr_sign
    for variant in FIRST_VARIANTS
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("info", "variant"), FIRST_CASES)
def test_first_step_is_minus_lr_sign(info, variant, dtype, cpu_backend):
    lr = 0.1
    kwargs = {"lr": lr, **FIRST_VARIANTS[variant]}
    g = FIRST_GRAD.astype(dtype)
    p0 = np.linspace(-1.0, 1.0, g.size).astype(dtype)
    p = p0.copy()
    opt = getattr(ok, info.cls)(p, backend=cpu_backend, **kwargs)
    opt.step(g)
    wd = opt.param_groups[0]["weight_decay"]
    decoupled = opt.param_groups[0]["decoupled_weight_decay"]
    sign = -1.0 if kwargs.get("maximize") else 1.0
    # L2 decay adds wd·p to the gradient (still huge or tiny: the sign is g's unless
    # |g| < wd·|p|); decoupled decay shrinks p first.
    effective = sign * g.astype(np.float64) + (0.0 if decoupled else wd) * p0
    start = p0 * (1 - lr * wd) if decoupled else p0.astype(np.float64)
    step = p.astype(np.float64) - start
    np.testing.assert_allclose(step, -lr * np.sign(effective), rtol=1e-4, atol=0)


# ===================================================================== identities
STEPS_C4 = 15


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_sgd_momentum_zero_is_plain_sgd(weight_decay, maximize, cpu_backend):
    lr = 0.05
    common = dict(lr=lr, weight_decay=weight_decay, maximize=maximize, backend=cpu_backend)
    x0 = PROBLEM["x0"]
    xs = [x0.copy() for _ in range(3)]
    opts = [
        ok.SGD(xs[0], **common),
        ok.SGD(xs[1], momentum=0.0, dampening=0.0, **common),
        # an all-zero momentum array goes through the momentum rule and its buffer
        ok.SGD(xs[2], momentum=np.zeros_like(x0), **common),
    ]
    hand = x0.copy()
    s = -1.0 if maximize else 1.0
    for _ in range(STEPS_C4):
        for x, opt in zip(xs, opts):
            opt.step(golden_gradient(x))
        hand = hand - lr * (s * golden_gradient(hand) + weight_decay * hand)
    assert not opts[0].state["param"] and not opts[1].state["param"]  # no buffer kept
    assert "buf" in opts[2].state["param"]
    np.testing.assert_array_equal(xs[1], xs[0])
    np.testing.assert_array_equal(xs[2], xs[0])
    np.testing.assert_allclose(xs[0], hand, rtol=1e-13, atol=1e-15)
    assert not np.allclose(xs[0], x0)


def _rmsprop_eps_in_sqrt_closed_form(x0, steps, *, lr, alpha, eps, momentum, centered):
    """Lecture Algorithm 8.5/8.6 with eps inside the root, written out in NumPy."""
    x = x0.copy()
    v = np.zeros_like(x)
    gbar = np.zeros_like(x)
    buf = np.zeros_like(x)
    for _ in range(steps):
        g = golden_gradient(x)
        v = alpha * v + (1 - alpha) * g**2
        gbar = alpha * gbar + (1 - alpha) * g
        var = v - gbar**2 if centered else v
        scaled = g / np.sqrt(var + eps)
        if momentum:
            buf = momentum * buf + scaled
            x = x - lr * buf
        else:
            x = x - lr * scaled
    return x


@pytest.mark.parametrize(
    ("centered", "momentum"),
    [(False, 0.0), (True, 0.0), (False, 0.9), (True, 0.9)],
    ids=["plain", "centered", "momentum", "centered_momentum"],
)
def test_rmsprop_eps_in_sqrt_closed_form(centered, momentum, cpu_backend):
    hyper = dict(lr=0.01, alpha=0.9, eps=1e-2, momentum=momentum, centered=centered)
    x = PROBLEM["x0"].copy()
    opt = ok.RMSprop(x, eps_in_sqrt=True, backend=cpu_backend, **hyper)
    for _ in range(STEPS_C4):
        opt.step(golden_gradient(x))
    expected = _rmsprop_eps_in_sqrt_closed_form(PROBLEM["x0"], STEPS_C4, **hyper)
    np.testing.assert_allclose(x, expected, rtol=1e-12, atol=1e-14)
    # the flag matters: eps outside the root gives another trajectory
    y = PROBLEM["x0"].copy()
    other = ok.RMSprop(y, backend=cpu_backend, **hyper)
    for _ in range(STEPS_C4):
        other.step(golden_gradient(y))
    assert np.max(np.abs(x - y)) > 1e-4


@pytest.mark.parametrize("beta2", [0.9, 0.999])
def test_adam_beta1_zero_is_bias_corrected_rmsprop(beta2, cpu_backend):
    lr, eps = 0.02, 1e-8
    x = PROBLEM["x0"].copy()
    opt = ok.Adam(x, lr=lr, betas=(0.0, beta2), eps=eps, backend=cpu_backend)
    for _ in range(STEPS_C4):
        opt.step(golden_gradient(x))
    hand = PROBLEM["x0"].copy()
    v = np.zeros_like(hand)
    for t in range(1, STEPS_C4 + 1):
        g = golden_gradient(hand)
        v = beta2 * v + (1 - beta2) * g**2
        hand = hand - lr * g / (np.sqrt(v / (1 - beta2**t)) + eps)
    np.testing.assert_allclose(x, hand, rtol=1e-12, atol=1e-14)
    # the bias correction matters: plain RMSprop (alpha = beta2) differs
    y = PROBLEM["x0"].copy()
    rms = ok.RMSprop(y, lr=lr, alpha=beta2, eps=eps, backend=cpu_backend)
    for _ in range(STEPS_C4):
        rms.step(golden_gradient(y))
    assert np.max(np.abs(x - y)) > 1e-3


# ==================================================================== convergence
PARABOLA_H = np.array([1.0, 10.0])


def parabola_grad(x: np.ndarray) -> np.ndarray:
    """∇ of ½ Σ h_i (x_i − 1)², h = (1, 10): minimum at (1, 1)."""
    return PARABOLA_H * (x - 1.0)


def rosenbrock_grad(x: np.ndarray) -> np.ndarray:
    """∇ of (1 − x)² + 100 (y − x²)²: minimum at (1, 1)."""
    a, b = x
    return np.array([-2.0 * (1.0 - a) - 400.0 * a * (b - a * a), 200.0 * (b - a * a)])


PROBLEMS = {"parabola": parabola_grad, "rosenbrock": rosenbrock_grad}


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("info", OPTIM_DB, ids=DB_IDS)
def test_converges_from_origin(info, problem, cpu_backend):
    run = getattr(info, problem)
    grad = PROBLEMS[problem]
    x = np.zeros(2)
    opt = getattr(ok, info.cls)(x, backend=cpu_backend, **info.run_kwargs(problem))
    for _ in range(run.steps):
        opt.step(grad(x))
    np.testing.assert_allclose(x, [1.0, 1.0], rtol=3e-2, atol=0)
