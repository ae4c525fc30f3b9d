"""Zero-copy views of tensors, and the CUDA path (DLPack into CuPy, torch's stream).

Without a GPU the CUDA path is exercised on the CPU: the CUDA bridge is given a host
stand-in of CuPy (the test suite's CUDA twin, whose kernels are the generated CUDA
bodies compiled for the host) and installed for CPU tensors, so the whole step runs
through DLPack, the stream context and the CuPy executor. Tests marked ``gpu`` run
the real thing and are skipped without a device.
"""

from __future__ import annotations

import contextlib
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _support.backends import HAS_GPU, backend_for  # noqa: E402

import optkit as ok  # noqa: E402
from optkit.torch import _devices  # noqa: E402

pytestmark = pytest.mark.torch


def test_cpu_views_share_memory():
    t = torch.zeros(2, 3)
    a = _devices.CpuBridge().array(torch.nn.Parameter(t))  # a leaf requiring grad
    a[1, 2] = 5.0
    assert t[1, 2] == 5.0
    back = _devices.CpuBridge().tensor(a)
    assert back.data_ptr() == t.data_ptr()


def test_span_only_over_consecutive_tensors_of_one_storage():
    buffer = torch.arange(10.0)
    a, b, c = buffer[:4].view(2, 2), buffer[4:7], buffer[7:]
    whole = _devices.span([a, b, c])
    assert (
        whole is not None and whole.data_ptr() == buffer.data_ptr() and whole.numel() == 10
    )
    assert _devices.span([b, a]) is None  # out of order
    assert _devices.span([a, c]) is None  # a gap
    assert _devices.span([buffer[:6].view(2, 3).t()]) is None  # not contiguous
    assert _devices.span([torch.zeros(3), torch.zeros(3)]) is None  # two storages


class _Recorder:
    """A CuPy-shaped module recording the device and stream contexts it enters."""

    def __init__(self, fake=None):
        self.entered = []
        recorder = self

        @contextlib.contextmanager
        def device(index):
            recorder.entered.append(("device", index))
            yield

        @contextlib.contextmanager
        def external_stream(ptr, index):
            recorder.entered.append(("stream", ptr, index))
            yield

        self.cuda = types.SimpleNamespace(Device=device, ExternalStream=external_stream)
        self.fake = fake

    def from_dlpack(self, t):
        array = np.from_dlpack(t)
        return array.view(self.fake.ndarray) if self.fake is not None else array

    def __getattr__(self, name):
        return getattr(self.fake, name)


def test_cuda_bridge_imports_through_dlpack_on_the_current_stream():
    cupy = _Recorder()
    bridge = _devices.CudaBridge(cupy=cupy, current_stream=lambda device: 0xC0FFEE)
    t = torch.arange(6.0).reshape(2, 3)
    a = bridge.array(torch.nn.Parameter(t))
    a[0, 0] = -1.0
    assert t[0, 0] == -1.0  # no copy
    assert cupy.entered == [("device", 0), ("stream", 0xC0FFEE, 0)]
    assert bridge.tensor(a).data_ptr() == t.data_ptr()


@pytest.fixture
def cuda_path_on_the_host(monkeypatch):
    """CPU tensors routed through the CUDA bridge into the CUDA twin."""
    with backend_for("cuda_twin"):
        import sys

        cupy = _Recorder(sys.modules["cupy"])
        bridge = _devices.CudaBridge(cupy=cupy, current_stream=lambda device: 7)
        monkeypatch.setitem(_devices.BRIDGES, "cpu", bridge)
        yield cupy


@pytest.mark.parametrize(
    "name, kwargs",
    [("Adam", dict(lr=0.05, amsgrad=True)), ("SGD", dict(lr=0.1, momentum=0.9)),
     ("NAdam", dict(lr=0.05)), ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1))],
)  # fmt: skip
def test_cuda_path_equals_the_cpu_path(name, kwargs, cuda_path_on_the_host):
    g = torch.Generator().manual_seed(0)
    start = torch.randn(2, 5, generator=g)
    grads = [torch.randn(2, 5, generator=g) for _ in range(5)]
    p = torch.nn.Parameter(start.clone())
    opt = getattr(ok.torch, name)([p], nonfinite="raise", **kwargs)
    for grad in grads:
        p.grad = grad.clone()
        opt.step()
    assert opt.param_groups and ("stream", 7, 0) in cuda_path_on_the_host.entered
    twin_result = p.detach().clone()
    reference = torch.nn.Parameter(start.clone())
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(_devices.BRIDGES, "cpu", _devices.CpuBridge())
        ref_opt = getattr(ok.torch, name)([reference], **kwargs)
        for grad in grads:
            reference.grad = grad.clone()
            ref_opt.step()
    assert torch.equal(twin_result, reference.detach())


def test_cuda_path_polyak_average(cuda_path_on_the_host):
    model = torch.nn.Linear(3, 2)
    ok.torch.flatten_(model)
    average = ok.torch.PolyakAverage(model, decay=0.5)
    for value in (1.0, 3.0):
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(value)
        average.update()
    assert ("stream", 7, 0) in cuda_path_on_the_host.entered
    assert all(torch.equal(a, torch.full_like(a, 2.0)) for a in average.average.values())


def test_cuda_path_nonfinite_check(cuda_path_on_the_host):
    p = torch.nn.Parameter(torch.ones(4))
    opt = ok.torch.Adam([p], lr=0.1)
    p.grad = torch.tensor([1.0, float("inf"), 0.0, 0.0])
    with pytest.raises(ok.NonFiniteGradientError):
        opt.step()
    assert torch.equal(p.detach(), torch.ones(4))


# --------------------------------------------------------------------- a real GPU
@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU or not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["SGD", "Adam", "NAdam", "RMSprop", "Adagrad"])
def test_cuda_matches_torch_on_the_device(name):
    g = torch.Generator(device="cuda").manual_seed(0)
    start = torch.randn(1000, device="cuda", generator=g, dtype=torch.float64)
    grads = [torch.randn(1000, device="cuda", generator=g, dtype=torch.float64)
             for _ in range(10)]  # fmt: skip
    results = []
    for module in (ok.torch, torch.optim):
        p = torch.nn.Parameter(start.clone())
        opt = getattr(module, name)([p], lr=0.01)
        for grad in grads:
            p.grad = grad.clone()
            opt.step()
        results.append(p.detach())
    assert torch.allclose(*results, rtol=0, atol=1e-12)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_GPU or not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_kernels_run_on_torchs_current_stream():
    """On a side stream, with no synchronization, the update is ordered after the
    gradient is written and before the parameter is read."""
    stream = torch.cuda.Stream()
    p = torch.nn.Parameter(torch.zeros(1 << 20, device="cuda"))
    opt = ok.torch.SGD([p], lr=1.0, nonfinite="propagate")
    with torch.cuda.stream(stream):
        for _ in range(5):
            p.grad = torch.full_like(p, -1.0)  # written on the side stream
            opt.step()
        total = p.detach().sum()  # read on the side stream
    stream.synchronize()
    assert float(total) == 5.0 * (1 << 20)
