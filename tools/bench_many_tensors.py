"""200 tensors of 4K-64K float32 elements: one FlatParams vs torch on the 200 tensors.

Run ``python tools/bench_many_tensors.py``. Target P4 (PERFORMANCE.md): optkit's
Numba Adam over one ``FlatParams`` >= 1.5x faster than ``torch.optim.Adam(fused=True)``
on the same tensors, same threads. Shown for optkit's default ``nonfinite="raise"``
(one extra read of the gradient) and for ``"propagate"`` (torch's semantics).
"""

from __future__ import annotations

import numba
import numpy as np

import optkit as ok
from optkit.benchmark import time_call


def arrays(count: int = 200, seed: int = 0) -> dict[str, np.ndarray]:
    """The same tensor sizes as the asv ``ManyTensors`` benchmark."""
    sizes = np.random.default_rng(seed).integers(4096, 65537, size=count)
    rng = np.random.default_rng(seed + 1)
    return {
        f"t{i}": rng.standard_normal(int(n)).astype(np.float32) for i, n in enumerate(sizes)
    }


def main() -> None:
    import torch

    torch.set_num_threads(numba.get_num_threads())
    data = arrays()
    total = sum(a.size for a in data.values())
    tensors = [torch.from_numpy(a.copy()) for a in data.values()]
    for t in tensors:
        t.grad = torch.full_like(t, 0.01)
    peers = {
        flag: torch.optim.Adam(tensors, lr=1e-3, **{flag: True})
        for flag in ("fused", "foreach")
    }
    print(
        f"{len(data)} tensors, {total:,} float32 parameters, "
        f"{numba.get_num_threads()} threads; median per step"
    )
    for policy in ("raise", "propagate"):
        flat = ok.FlatParams(data)
        grads = flat.zeros_like()
        for buffer in grads.buffers.values():
            buffer[...] = 0.01
        opt = ok.Adam(flat, lr=1e-3, backend="numba", nonfinite=policy)
        ours = time_call(lambda opt=opt, grads=grads: opt.step(grads), 0.3, 9)
        fused = time_call(peers["fused"].step, 0.3, 9)
        foreach = time_call(peers["foreach"].step, 0.3, 9)
        print(
            f"nonfinite={policy!r:<12} optkit {ours * 1e3:6.2f} ms   torch fused "
            f"{fused * 1e3:6.2f} ms ({fused / ours:4.2f}x)   torch foreach "
            f"{foreach * 1e3:6.2f} ms ({foreach / ours:4.2f}x)   target P4: >= 1.5x fused"
        )


if __name__ == "__main__":
    main()
