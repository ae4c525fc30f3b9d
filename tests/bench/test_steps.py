"""optkit.bench: optimizer steps, rooflines and the other workloads as callables."""

from __future__ import annotations

import importlib.util
import itertools

import numpy as np
import pytest

from optkit.bench import roofline, steps, workloads
from optkit.bench.machine import install_hint, missing_message, peer_of, roofline_of
from optkit.optim.registry import ALGORITHMS

HAS_CUPY = importlib.util.find_spec("cupy") is not None


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_state_count_is_the_optimizers_own(name):
    opt = ALGORITHMS[name].make(np.zeros(3), backend="numpy")
    assert steps.state_count(name) == len(opt.state_names(opt.param_groups[0]))


def test_bytes_per_step():
    # read p, g and each state; write p and each state
    assert steps.bytes_per_step("sgd", 10, 4) == 3 * 10 * 4
    assert steps.bytes_per_step("adam", 1, 4) == 28
    assert steps.bytes_per_step("amsgrad", 1, 8) == 9 * 8


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_make_step_runs_every_optimizer(name, backend):
    step = steps.make_step(name, backend, 64, np.float32)
    step()
    step()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_make_step_is_the_registry_optimizer_moving_its_parameter(backend):
    step = steps.make_step("momentum", backend, 16, np.float64)
    opt = step.func.__self__  # a bound opt.step with the gradient
    assert isinstance(opt, ALGORITHMS["momentum"].cls)
    assert opt.param_groups[0]["momentum"] == ALGORITHMS["momentum"].kwargs["momentum"]
    p = opt.param_groups[0]["params"][0]
    before = p.copy()
    step()
    assert p.dtype == np.float64 and not np.array_equal(before, p)


def test_unknown_optimizer_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamax'.*adam"):
        steps.make_step("adamax", "numpy", 8)


@pytest.mark.skipif(HAS_CUPY, reason="CuPy is installed here")
def test_missing_backend_says_what_to_install():
    with pytest.raises(NotImplementedError, match=r"pip install 'optkit\[cuda12\]'"):
        steps.make_step("adam", "cupy", 8)
    assert "cupy is not installed" in missing_message("roofline-cuda")


def test_peers_and_rooflines_by_device():
    assert peer_of("numba") == "torch-fused" and peer_of("cupy") == "torch-cuda-fused"
    assert peer_of("numpy", optimizer=False) == "torch"
    assert roofline_of("numba") == "roofline" and roofline_of("cupy") == "roofline-cuda"
    assert install_hint("torch-cuda").startswith("pip install torch")
    assert missing_message("numpy") == ""


@pytest.mark.torch
def test_torch_peers():
    pytest.importorskip("torch")
    steps.make_step("adam", "torch-fused", 64)()
    steps.make_step("momentum", "torch-foreach", 64)()
    with pytest.raises(NotImplementedError, match="torch has no Delta-bar-delta"):
        steps.make_step("delta_bar_delta", "torch-fused", 64)


@pytest.mark.parametrize("states", [0, 1, 2, 3])
@pytest.mark.parametrize("parallel", [True, False, None])
def test_roofline_loops_move_the_data(states, parallel):
    step = roofline.step_roofline(states, 100, "float32", parallel=parallel)
    step()
    with pytest.raises(ValueError, match="4 state arrays"):
        roofline.step_roofline(4, 10, "float32")


def test_copy_and_read_rooflines():
    roofline.copy_roofline(1000, "float64", passes=4)()
    roofline.read_roofline(1000, "float32", scale=True)()


@pytest.mark.parametrize("backend", ["numpy", "numba", "roofline"])
@pytest.mark.parametrize(
    ("shape", "axis"), [((32, 8), 1), ((2, 4, 3, 3), 1), ((2, 3, 3, 4), -1)]
)
def test_batch_norm_workload(backend, shape, axis):
    workloads.batch_norm_step(backend, shape, axis, "float64")()
    workloads.batch_norm_step(backend, shape, axis, "float32", forward_only=True)()


@pytest.mark.parametrize("backend", ["numpy", "numba", "roofline"])
def test_clip_workload(backend):
    workloads.clip_step(backend, 64, "float32", tensors=4, scale=True)()
    workloads.clip_step(backend, 64, "float64", tensors=1, scale=False)()


def test_shrinking_limit_protocol():
    limits, factors = [], []
    call = workloads.shrinking_limit(limits.append, factors.append, norm0=10.0, scale=True)
    for _ in range(5000):
        call()
    drops = [b < a for a, b in itertools.pairwise(limits)]
    assert drops.count(False) == 1  # every call is over the previous limit but one:
    assert len(factors) == 1 and 99.0 < factors[0] < 101.0  # the rescale back up
    assert min(limits) >= 0.1 * 0.999 and max(limits) == 10.0
    under = workloads.shrinking_limit(limits.append, factors.append, 10.0, scale=False)
    under()
    assert limits[-1] == 20.0


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_many_tensors_and_population(backend):
    workloads.many_tensors_step(backend, count=3)()
    workloads.population_run(backend, problems=5, steps=2)()
    assert len(workloads.tensor_sizes(7)) == 7
    assert all(4096 <= s <= 65536 for s in workloads.tensor_sizes())


def test_layer_norm_skips_cleanly_without_ok_layer_norm(monkeypatch):
    import optkit

    monkeypatch.delattr(optkit, "layer_norm", raising=False)
    with pytest.raises(NotImplementedError, match=r"no ok\.layer_norm"):
        workloads.layer_norm_step("numba", (4, 8))
