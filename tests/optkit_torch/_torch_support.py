"""What the optkit.torch tests share: a small BatchNorm MLP, its data, a training loop.

The model is built in float32 from a fixed seed and then converted, so float32 and
float64 runs start from the same numbers; ``Linear`` before ``BatchNorm`` has no bias
(BatchNorm removes its gradient: what is left is rounding noise, which Adam-type
optimizers would turn into steps of size lr).
"""

from __future__ import annotations

import contextlib

import pytest

torch = pytest.importorskip("torch")

__all__ = ["data", "default_dtype", "flat_params", "mlp", "train"]


@contextlib.contextmanager
def default_dtype(dtype):
    """torch keeps scalar state (step, NAdam's mu_product) in the default dtype."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64 if dtype == torch.float64 else torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def mlp(dtype=torch.float64, seed: int = 0) -> torch.nn.Module:
    """``Linear(8, 16) -> BatchNorm1d(16) -> tanh -> Linear(16, 4)``."""
    with default_dtype(torch.float32):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(
            torch.nn.Linear(8, 16, bias=False),
            torch.nn.BatchNorm1d(16),
            torch.nn.Tanh(),
            torch.nn.Linear(16, 4),
        )
    return model.to(dtype)


def data(dtype=torch.float64, n: int = 128):
    """Fixed inputs (n, 8) and class labels in 0..3."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 8, generator=g, dtype=torch.float32)
    return x.to(dtype), torch.randint(0, 4, (n,), generator=g)


def flat_params(model: torch.nn.Module) -> torch.Tensor:
    """Every parameter, concatenated, in float64."""
    return torch.cat([p.detach().reshape(-1).double() for p in model.parameters()])


def train(
    make_opt,
    dtype=torch.float64,
    steps: int = 100,
    scheduler=None,
    closure: bool = False,
    scaler=None,
    model=None,
):
    """Train :func:`mlp` full batch for ``steps`` steps; returns (model, optimizer)."""
    with default_dtype(dtype):
        model = mlp(dtype) if model is None else model
        x, y = data(dtype)
        opt = make_opt(model.parameters())
        sched = scheduler(opt) if scheduler else None

        def loss_fn():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            (scaler.scale(loss) if scaler else loss).backward()
            return loss

        for _ in range(steps):
            if closure:
                returned = opt.step(loss_fn)
                assert isinstance(returned, torch.Tensor)
            elif scaler is not None:
                loss_fn()
                scaler.step(opt)
                scaler.update()
            else:
                loss_fn()
                opt.step()
            if sched is not None:
                sched.step()
    return model, opt
