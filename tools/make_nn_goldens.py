"""Record torch's answers for the nn parity tests into ``tests/data/nn_goldens.npz``.

    python tools/make_nn_goldens.py

The model is a float64 MLP with BatchNorm in training mode,
``Linear(64,32) BatchNorm1d Tanh Linear(32,32) BatchNorm1d ReLU Linear(32,10)``,
initialised by torch (seed 0), on 256 standardised rows of scikit-learn's digits
(stored in the file, so the tests need neither torch nor scikit-learn). Recorded:

* ``data/x``, ``data/y``; ``init/<key>``: the initial ``state_dict``;
* ``grad/loss``, ``grad/<name>``: cross-entropy and every parameter's gradient on
  the first 64 rows (training mode);
* for ``sgd`` (lr 0.1, momentum 0.9, weight decay 1e-4) and ``adam`` (lr 1e-3):
  ``<opt>/epoch_loss`` (mean batch loss of each of 3 epochs) and
  ``<opt>/<key>``: the final ``state_dict``. Batches of 32 in the order
  ``optkit.fit`` draws with ``seed=0``: epoch e takes the e-th
  ``numpy.random.default_rng(0).permutation(256)``.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from sklearn.datasets import load_digits

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "nn_goldens.npz")
EPOCHS, BATCH = 3, 32
OPTIMIZERS = {
    "sgd": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-4)),
    "adam": (torch.optim.Adam, dict(lr=1e-3)),
}


def model() -> torch.nn.Sequential:
    """The recorded architecture, initialised from torch seed 0, in float64."""
    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(
        nn.Linear(64, 32), nn.BatchNorm1d(32), nn.Tanh(),
        nn.Linear(32, 32), nn.BatchNorm1d(32), nn.ReLU(),
        nn.Linear(32, 10),
    ).double()  # fmt: skip


def data() -> tuple[np.ndarray, np.ndarray]:
    """256 digits rows, standardised (constant pixels stay 0)."""
    bunch = load_digits()
    x, y = bunch.data[:256].astype(np.float64), bunch.target[:256].astype(np.int64)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    return (x - x.mean(axis=0)) / scale, y


def state(prefix: str, net: torch.nn.Module) -> dict[str, np.ndarray]:
    return {f"{prefix}/{k}": v.detach().numpy().copy() for k, v in net.state_dict().items()}


def trajectory(name: str, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    net = model()
    cls, options = OPTIMIZERS[name]
    opt = cls(net.parameters(), **options)
    rng = np.random.default_rng(0)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    losses = []
    for _ in range(EPOCHS):
        order = rng.permutation(len(y))
        total = 0.0
        for start in range(0, len(y), BATCH):
            idx = torch.from_numpy(order[start : start + BATCH])
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(tx[idx]), ty[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(y))
    return {f"{name}/epoch_loss": np.array(losses), **state(name, net)}


def main() -> None:
    x, y = data()
    net = model()
    out = {"data/x": x, "data/y": y, **state("init", net)}
    loss = torch.nn.functional.cross_entropy(
        net(torch.from_numpy(x[:64])), torch.from_numpy(y[:64])
    )
    loss.backward()
    out["grad/loss"] = np.array(loss.item())
    out.update({f"grad/{k}": p.grad.numpy().copy() for k, p in net.named_parameters()})
    for name in OPTIMIZERS:
        out.update(trajectory(name, x, y))
    np.savez_compressed(OUT, **out)
    print(f"wrote {os.path.normpath(OUT)} ({len(out)} arrays, torch {torch.__version__})")


if __name__ == "__main__":
    main()
