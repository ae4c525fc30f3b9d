"""optkit.torch's Adam vs torch.optim.Adam on torch tensors: 2^22 float32 parameters.

``backend``: ``numba`` (ok.torch on CPU tensors), ``cupy`` (ok.torch on CUDA tensors),
``torch-fused`` / ``torch-foreach`` (torch's own, on CPU tensors). ``layout``: one
flat buffer, 200 separate tensors, or 200 tensors after ``ok.torch.flatten_`` (optkit
only). ``nonfinite``: optkit's policy (torch has only ``propagate``). Combinations
that cannot run here raise ``NotImplementedError`` in ``setup`` (asv: skipped).
"""

from __future__ import annotations

from .common import Settings, require, require_gpu

SIZE = 1 << 22
LAYOUTS = ["one buffer", "200 tensors", "200 tensors, flatten_"]


def _params(torch, layout: str, device: str) -> list:
    count = 1 if layout == "one buffer" else 200
    g = torch.Generator().manual_seed(0)
    sizes = [SIZE // count] * count
    sizes[-1] += SIZE - sum(sizes)
    params = [torch.nn.Parameter(torch.randn(n, generator=g).to(device)) for n in sizes]
    for p in params:
        p.grad = torch.full_like(p, 1e-3)
    if layout.endswith("flatten_"):
        import optkit as ok

        model = torch.nn.ParameterList(params)
        ok.torch.flatten_(model)
        params = list(model.parameters())
    return params


class TorchAdamStep(Settings):
    """One ``step()`` of Adam over 2^22 float32 parameters."""

    params = (["numba", "cupy", "torch-fused", "torch-foreach"], LAYOUTS,
              ["propagate", "raise"])  # fmt: skip
    param_names = ["backend", "layout", "nonfinite"]

    def setup(self, backend, layout, nonfinite):
        self.step = self.reuse(
            (backend, layout, nonfinite), lambda: _adam_step(backend, layout, nonfinite)
        )

    def time_step(self, backend, layout, nonfinite):
        self.step()


def _adam_step(backend: str, layout: str, nonfinite: str):
    """A callable that runs one synchronized Adam step; skips what cannot run here."""
    require("torch")
    import torch

    device = "cpu"
    if backend == "cupy":
        require_gpu()
        if not torch.cuda.is_available():
            raise NotImplementedError("torch has no CUDA here")
        device = "cuda"
    if backend.startswith("torch"):
        if layout.endswith("flatten_") or nonfinite == "raise":
            raise NotImplementedError("torch has no flatten_ and no nonfinite policy")
        flag = backend.split("-")[1]
        opt = torch.optim.Adam(_params(torch, layout, device), **{flag: True})
    else:
        import optkit as ok

        opt = ok.torch.Adam(_params(torch, layout, device), nonfinite=nonfinite)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step():
        opt.step()
        sync()

    return step
