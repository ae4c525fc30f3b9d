"""The lecture's forms reachable by switches: momentum with the learning rate inside."""

from __future__ import annotations

import numpy as np
import pytest

import optkit as ok


def test_lecture_momentum_equals_torch_form_at_constant_lr(cpu_backend):
    """v = mu v - lr g; p += v  ==  b = mu b + g; p -= lr b  (v = -lr b) at constant lr."""
    x_lecture = np.linspace(-1.0, 1.0, 9)
    x_torch = x_lecture.copy()
    lecture = ok.SGD(
        x_lecture, lr=0.05, momentum=0.8, lecture_momentum=True, backend=cpu_backend
    )
    torch_form = ok.SGD(x_torch, lr=0.05, momentum=0.8, backend=cpu_backend)
    for _ in range(25):
        lecture.step(2 * x_lecture + np.sin(x_lecture))
        torch_form.step(2 * x_torch + np.sin(x_torch))
    np.testing.assert_allclose(x_lecture, x_torch, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        lecture.state["param"]["v"], -0.05 * torch_form.state["param"]["buf"], rtol=1e-12
    )


def test_lecture_momentum_under_a_changing_lr_follows_the_lecture(cpu_backend):
    from optkit import schedules as S

    lr = S.step(0.1, step_size=3, gamma=0.5)
    x = np.array([1.0, -2.0])
    opt = ok.SGD(x, lr=lr, momentum=0.9, lecture_momentum=True, backend=cpu_backend)
    ref, v = x.copy(), np.zeros(2)
    for t in range(9):
        g = 2 * x
        opt.step(g)
        v = 0.9 * v - lr(t) * (2 * ref)
        ref = ref + v
    np.testing.assert_allclose(x, ref, rtol=1e-13)
    torch_form_x = np.array([1.0, -2.0])
    torch_form = ok.SGD(torch_form_x, lr=lr, momentum=0.9, backend=cpu_backend)
    for _ in range(9):
        torch_form.step(2 * torch_form_x)
    assert not np.allclose(torch_form_x, x)  # the two forms differ once lr changes


def test_lecture_momentum_rejects_nesterov_and_dampening():
    with pytest.raises(ValueError, match="lecture_momentum"):
        ok.SGD(np.ones(2), lr=0.1, momentum=0.9, dampening=0.1, lecture_momentum=True)
    with pytest.raises(ValueError, match="lecture_momentum"):
        ok.SGD(np.ones(2), lr=0.1, momentum=0.9, nesterov=True, lecture_momentum=True)
