"""Batch normalization makes a deep sigmoid network trainable.

    python examples/batchnorm_deep_net.py [--quick] [--seed 0] [--out DIR]
                                          [--activation sigmoid|tanh] [--dataset digits]

Claim (Goodfellow, Bengio & Courville, 2016, sec. 8.7.1): in a deep network the
update of one layer changes the input distribution of every later layer, which
makes deep networks hard to train; batch normalization (Ioffe & Szegedy, 2015)
re-parametrizes each layer so that its input keeps mean 0 and variance 1, and
training becomes much easier.

Measurement: an MLP with 10 hidden layers of 32 sigmoid units on scikit-learn's
digits, with and without BatchNorm before each nonlinearity (torch's default
initialisation, SGD with momentum 0.9, batch 64). Each arm gets its own learning
rate, tuned on the first seed by final validation accuracy over a grid; then 5
seeds (initialisation and batch order) per arm. Reported: epochs until the
validation accuracy first reaches 90 % (never: counted as infinity), final
validation and test accuracy. The claim holds when every BatchNorm run reaches the
threshold, its median epochs-to-threshold is below the plain network's, and its
median test accuracy is at least the plain network's.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness

import optkit as ok

THRESHOLD = 0.9
SEEDS = 5
FULL = dict(epochs=40, lrs=(0.01, 0.03, 0.1, 0.3, 1.0, 3.0))
QUICK = dict(epochs=12, lrs=(0.1, 1.0))


def build(arm: str, activation: str, sizes: list[int], seed: int, backend: str):
    """The deep MLP of one arm ("plain" or "batchnorm")."""
    return ok.nn.mlp(
        sizes, activation, batch_norm=arm == "batchnorm", seed=seed, backend=backend
    )


def train(arm, lr, seed, data, config, args):
    """One run: (validation accuracy per epoch, final test accuracy)."""
    model = build(arm, args.activation, config["sizes"], seed, args.backend)
    opt = ok.SGD(model.parameters(), lr=lr, momentum=0.9, nonfinite="skip")
    history = ok.fit(
        model, opt, data.train, config["epochs"], 64, validation=data.validation,
        seed=seed, progress=False,
    )  # fmt: skip
    test = ok.nn.accuracy(model.predict(data.test.x), data.test.y)
    curve = np.nan_to_num(history["val_accuracy"], nan=0.0)
    return curve, test


def epochs_to(curve: np.ndarray, threshold: float) -> float:
    """First epoch (1-based) with validation accuracy >= threshold, else infinity."""
    hits = np.flatnonzero(curve >= threshold)
    return float(hits[0] + 1) if hits.size else math.inf


def tune(arm, data, config, args) -> tuple[float, dict[float, float]]:
    """The learning rate with the best final validation accuracy on the first seed."""
    scores = {}
    for lr in config["lrs"]:
        curve, _ = train(arm, lr, args.seed, data, config, args)
        scores[lr] = float(curve[-1])
    best = max(scores, key=lambda lr: (scores[lr], -lr))
    return best, scores


def measure(data, config, args) -> dict[str, dict]:
    arms = {}
    for arm in ("plain", "batchnorm"):
        lr, scores = tune(arm, data, config, args)
        runs = [train(arm, lr, args.seed + k, data, config, args) for k in range(SEEDS)]
        curves = np.array([c for c, _ in runs])
        reach = [epochs_to(c, THRESHOLD) for c in curves]
        arms[arm] = dict(
            lr=lr, scores=scores, curves=curves, epochs_to_threshold=reach,
            median_epochs=float(np.median(reach)), reached=sum(map(math.isfinite, reach)),
            final_val=float(np.median(curves[:, -1])),
            test=float(np.median([t for _, t in runs])), tests=[t for _, t in runs],
        )  # fmt: skip
    return arms


def figure(arms, config, args):
    plt = _harness.pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4))
    epochs = np.arange(1, config["epochs"] + 1)
    for arm, color in (("plain", "tab:red"), ("batchnorm", "tab:blue")):
        a = arms[arm]
        for curve in a["curves"]:
            ax.plot(epochs, curve, color=color, alpha=0.25, lw=0.8)
        ax.plot(epochs, np.median(a["curves"], axis=0), color=color, lw=2,
                label=f"{arm} (lr {a['lr']:g})")  # fmt: skip
    ax.axhline(THRESHOLD, color="k", ls=":", lw=1)
    depth = len(config["sizes"]) - 2
    ax.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1),
           title=f"{depth} hidden {args.activation} layers on {args.dataset}: "
                 f"{SEEDS} seeds")  # fmt: skip
    ax.legend()
    return _harness.save_figure(fig, args.out, "batchnorm_deep_net.png")


def main(argv=None) -> dict:
    p = _harness.parser(__doc__.splitlines()[0])
    p.add_argument("--activation", default="sigmoid", choices=["sigmoid", "tanh"])
    p.add_argument("--dataset", default="digits", choices=["digits", "mnist1d"])
    args = p.parse_args(argv)
    config = dict(QUICK if args.quick else FULL)
    data = ok.datasets.load(args.dataset, seed=args.seed)
    config["sizes"] = [data.num_features, *[32] * 10, data.num_classes]
    arms = measure(data, config, args)
    rows = [[arm, a["lr"], f"{a['reached']}/{SEEDS}", a["median_epochs"], a["final_val"],
             a["test"]] for arm, a in arms.items()]  # fmt: skip
    print(_harness.table(["arm", "lr", "reached 90%", "median epochs", "final val acc",
                          "test acc"], rows))  # fmt: skip
    for arm, a in arms.items():
        grid = ", ".join(f"{lr:g}: {score:.3f}" for lr, score in a["scores"].items())
        print(f"{arm} lr grid (final validation accuracy, seed {args.seed}): {grid}")
    plain, bn = arms["plain"], arms["batchnorm"]
    holds = (
        bn["reached"] == SEEDS
        and bn["median_epochs"] < plain["median_epochs"]
        and bn["test"] >= plain["test"]
    )
    measured = (
        f"BatchNorm reaches {THRESHOLD:.0%} validation accuracy in {bn['median_epochs']:g} "
        f"epochs (median, {bn['reached']}/{SEEDS} runs) vs {plain['median_epochs']:g} "
        f"({plain['reached']}/{SEEDS}) without; test accuracy {bn['test']:.3f} vs "
        f"{plain['test']:.3f}"
    )
    expected = "BatchNorm reaching it in every run, sooner (median), at least as accurate"
    numbers = {
        arm: {k: v for k, v in a.items() if k != "curves"} for arm, a in arms.items()
    }
    return _harness.finish(holds, measured, expected, figure(arms, config, args), **numbers)


if __name__ == "__main__":
    main()
