"""A torch MLP on scikit-learn's digits: delta-bar-delta and momentum warm-up vs SGD.

    python examples/torch_digits.py [--epochs 10] [--lr 0.01] [--out DIR] [--quick]

Goodfellow, Bengio & Courville (2016), *Deep Learning*, §8.3.2 and §8.5: momentum
accelerates SGD, with the momentum coefficient usually raised over training
(α from 0.5 towards 0.9: a warm-up), and delta-bar-delta (Jacobs, 1988) adapts one
learning rate per weight, so both should reach a lower training loss than plain SGD
with the same base learning rate in the same number of epochs.

One torch model (Linear 64→64, BatchNorm, ReLU, Linear 64→10) is trained three
times from the same initialization on the same mini-batches: with
``torch.optim.SGD``, with ``ok.torch.SGD`` whose momentum is the schedule
``linear(0.5, 0.9)`` over the first two epochs, and with ``ok.torch.DeltaBarDelta``.
The optkit optimizers are ``torch.optim.Optimizer`` subclasses: the loop is torch's
(``zero_grad``, ``backward``, ``step``). The claim holds when both optkit runs end
with a lower training loss than SGD. The figure shows the training loss per epoch
and delta-bar-delta's learned per-weight rates.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _harness

import optkit as ok


def digits(seed: int):
    """Train/test split of the 8x8 digits, pixels scaled to [0, 1], as tensors."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(
        x / 16.0, y, test_size=0.3, random_state=seed, stratify=y
    )
    as_x = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    return as_x(xtr), as_x(xte), torch.tensor(ytr), torch.tensor(yte)


def model(seed: int):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(64, 64),
        torch.nn.BatchNorm1d(64),
        torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )


def train(make_opt, data, epochs: int, seed: int, batch: int = 64) -> dict:
    """Mini-batch training; the training loss after each epoch, test accuracy."""
    import torch

    xtr, xte, ytr, yte = data
    net = model(seed)
    opt = make_opt(net.parameters())
    order = torch.Generator().manual_seed(seed + 1)
    losses, start = [], time.perf_counter()
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=order)
        for i in range(0, len(xtr), batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xtr[idx]), ytr[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            losses.append(float(torch.nn.functional.cross_entropy(net(xtr), ytr)))
    with torch.no_grad():
        accuracy = float((net(xte).argmax(1) == yte).float().mean())
    seconds = time.perf_counter() - start
    return {"losses": losses, "accuracy": accuracy, "seconds": seconds, "opt": opt}


def runs(lr: float, steps_per_epoch: int, backend: str) -> dict:
    """Label -> optimizer factory."""
    import torch

    be = None if backend == "auto" else backend
    warmup = ok.schedules.linear(0.5, 0.9, steps=2 * steps_per_epoch)
    return {
        "torch.optim.SGD": lambda p: torch.optim.SGD(p, lr=lr),
        "ok.torch.SGD, momentum 0.5→0.9": lambda p: ok.torch.SGD(
            p, lr=lr, momentum=warmup, backend=be
        ),
        "ok.torch.DeltaBarDelta": lambda p: ok.torch.DeltaBarDelta(
            p, lr=lr, kappa=1e-3, phi=0.1, theta=0.7, backend=be
        ),
    }


def figure(results: dict, out: str) -> str | None:
    plt = _harness.pyplot()
    if plt is None:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for label, r in results.items():
        epochs = range(1, len(r["losses"]) + 1)
        left.plot(
            epochs, r["losses"], marker="o", label=f"{label} (test {r['accuracy']:.1%})"
        )
    left.set(yscale="log", xlabel="epoch", ylabel="training loss (cross-entropy)",
             title="Same model, same mini-batches, same base lr")  # fmt: skip
    left.legend(fontsize=8)
    dbd = results["ok.torch.DeltaBarDelta"]["opt"]
    rates = [float(v) for s in dbd.state.values() for v in s["rate"].reshape(-1)]
    right.hist(rates, bins=50, color="tab:green")
    right.axvline(dbd.param_groups[0]["lr"], color="k", ls="--", label="initial rate")
    right.set(xlabel="per-weight learning rate", ylabel="weights", yscale="log",
              title="Delta-bar-delta's learned rates")  # fmt: skip
    right.legend(fontsize=8)
    return _harness.save_figure(fig, out, "torch_digits.png")


def main(argv=None) -> dict:
    p = _harness.parser(__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.01)
    args = p.parse_args(argv)
    for module, install in (("torch", "'optkit[torch]'"), ("sklearn", "scikit-learn")):
        if importlib.util.find_spec(module) is None:
            raise SystemExit(f"this example needs {module}: pip install {install}")
    epochs = 3 if args.quick else args.epochs
    data = digits(args.seed)
    steps = (len(data[0]) + 63) // 64
    results = {
        label: train(make, data, epochs, args.seed)
        for label, make in runs(args.lr, steps, args.backend).items()
    }
    rows = [
        (label, r["losses"][0], r["losses"][-1], f"{r['accuracy']:.1%}", r["seconds"])
        for label, r in results.items()
    ]
    print(f"digits, {epochs} epochs of {steps} mini-batches, lr {args.lr}")
    print(_harness.table(["optimizer", "loss ep 1", "final loss", "test acc", "s"], rows))
    final = {label: r["losses"][-1] for label, r in results.items()}
    sgd = final.pop("torch.optim.SGD")
    holds = all(loss < sgd for loss in final.values())
    measured = ", ".join(f"{k} {v:.3f}" for k, v in final.items())
    return _harness.finish(
        holds,
        f"final training loss {measured}",
        f"both below torch.optim.SGD's {sgd:.3f}",
        figure(results, args.out),
        losses={k: r["losses"] for k, r in results.items()},
        accuracy={k: r["accuracy"] for k, r in results.items()},
    )


if __name__ == "__main__":
    main()
