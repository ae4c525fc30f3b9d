"""Greedy supervised pre-training of a deep narrow network, in both of its forms.

    python examples/greedy_pretraining.py [--quick] [--seed 0] [--out DIR]

Claim (Goodfellow, Bengio & Courville, 2016, sec. 8.7.4): a deep model that is
hard to train directly is easier to train when first trained on something
simpler. Two forms:

(a) simple network -> complex network (greedy supervised pre-training, Bengio et
    al., 2007): train a 1-hidden-layer network, discard its output layer, freeze
    its hidden layer, add a hidden layer and a new output layer, train the new
    part, repeat up to depth D, then fine-tune everything;
(b) simple task -> hard task: train the deep network on coarse labels (the ten
    digits in five pairs, 0-1, 2-3, ...), then replace its output layer and train
    on the ten classes.

Measurement: a network of D = 6 hidden layers of 16 sigmoid units on scikit-learn's
digits; against the same network from torch's default random initialisation with
the same epoch budget, and against the modern remedy, BatchNorm before each
nonlinearity (random init, same budget). Adam, batch 64; each arm's learning rate is
tuned on the first seed by validation accuracy; 5 seeds. Reported: test accuracy
per seed, and the mean paired difference to random init. A form "helps" when that
mean exceeds twice its standard error; the claim holds when both forms help.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness

import optkit as ok
from optkit.nn import BatchNorm, Linear, Sequential, Sigmoid

SEEDS = 5
WIDTH = 16
FULL = dict(depth=6, stage_epochs=10, final_epochs=30, lrs=(0.003, 0.01, 0.03))
QUICK = dict(depth=4, stage_epochs=3, final_epochs=10, lrs=(0.01,))
ARMS = ("random init", "(a) layer-wise", "(b) simple task", "BatchNorm")


def train(model, lr, data, epochs, seed):
    """Adam on ``model.parameters()`` (made after any freeze); returns the model."""
    opt = ok.Adam(model.parameters(), lr=lr)
    ok.fit(model, opt, data, epochs, 64, seed=seed, progress=False)
    return model


def deep(features, classes, depth, rng, batch_norm=False):
    layers = []
    for k in range(depth):
        layers.append(Linear(features if k == 0 else WIDTH, WIDTH, rng=rng))
        layers += [BatchNorm(WIDTH)] if batch_norm else []
        layers.append(Sigmoid())
    return [*layers, Linear(WIDTH, classes, rng=rng)]


def random_init(data, config, lr, seed, batch_norm=False):
    rng = np.random.default_rng(seed)
    model = Sequential(
        *deep(data.num_features, data.num_classes, config["depth"], rng, batch_norm)
    )
    return train(model, lr, data.train, config["budget"], seed)


def layer_wise(data, config, lr, seed):
    """Form (a): grow the network one frozen hidden layer at a time, then fine-tune."""
    rng = np.random.default_rng(seed)
    hidden: list = []
    for stage in range(config["depth"]):
        width_in = data.num_features if stage == 0 else WIDTH
        new = [Linear(width_in, WIDTH, rng=rng), Sigmoid()]
        model = Sequential(*hidden, *new, Linear(WIDTH, data.num_classes, rng=rng))
        for index in range(0, len(hidden), 2):  # the trained hidden layers
            model.freeze(str(index))
        train(model, lr, data.train, config["stage_epochs"], seed + stage)
        hidden += new
    model.unfreeze()
    return train(model, lr, data.train, config["final_epochs"], seed)


def simple_task(data, config, lr, seed):
    """Form (b): the deep network on five coarse classes first, then on all ten."""
    rng = np.random.default_rng(seed)
    body = deep(data.num_features, data.num_classes, config["depth"], rng)[:-1]
    coarse = Sequential(*body, Linear(WIDTH, 5, rng=rng))
    x, y = data.train
    train(coarse, lr, (x, y // 2), config["depth"] * config["stage_epochs"], seed)
    model = Sequential(*body, Linear(WIDTH, data.num_classes, rng=rng))
    return train(model, lr, data.train, config["final_epochs"], seed)


RUNNERS = {
    "random init": random_init,
    "(a) layer-wise": layer_wise,
    "(b) simple task": simple_task,
    "BatchNorm": lambda data, config, lr, seed: random_init(data, config, lr, seed, True),
}


def accuracy(model, split) -> float:
    return ok.nn.accuracy(model.predict(split.x), split.y)


def measure(data, config, args) -> dict[str, dict]:
    results = {}
    for arm in ARMS:
        run = RUNNERS[arm]
        scores = {lr: accuracy(run(data, config, lr, args.seed), data.validation)
                  for lr in config["lrs"]}  # fmt: skip
        lr = max(scores, key=lambda v: (scores[v], -v))
        tests = [
            accuracy(run(data, config, lr, args.seed + k), data.test) for k in range(SEEDS)
        ]
        results[arm] = dict(lr=lr, tests=tests, mean=float(np.mean(tests)))
    base = np.array(results["random init"]["tests"])
    for arm in ARMS[1:]:
        diff = np.array(results[arm]["tests"]) - base
        se = float(np.std(diff, ddof=1) / math.sqrt(SEEDS))
        results[arm].update(gain=float(np.mean(diff)), se=se,
                            helps=bool(np.mean(diff) > 2 * se))  # fmt: skip
    return results


def figure(results, config, args):
    plt = _harness.pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for i, arm in enumerate(ARMS):
        tests = results[arm]["tests"]
        ax.scatter(
            np.full(len(tests), i) + np.linspace(-0.12, 0.12, len(tests)), tests, s=22
        )
        ax.hlines(results[arm]["mean"], i - 0.25, i + 0.25, color="k")
    ax.set_xticks(range(len(ARMS)), ARMS)
    ax.set(ylabel="test accuracy", title=f"{config['depth']} hidden sigmoid layers of "
           f"{WIDTH} on digits, {SEEDS} seeds, {config['budget']} epochs each")  # fmt: skip
    return _harness.save_figure(fig, args.out, "greedy_pretraining.png")


def main(argv=None) -> dict:
    args = _harness.parser(__doc__.splitlines()[0]).parse_args(argv)
    config = dict(QUICK if args.quick else FULL)
    config["budget"] = config["depth"] * config["stage_epochs"] + config["final_epochs"]
    data = ok.datasets.digits(seed=args.seed)
    results = measure(data, config, args)
    rows = []
    for arm in ARMS:
        r = results[arm]
        gain = "" if arm == ARMS[0] else f"{100 * r['gain']:+.1f} ± {100 * r['se']:.1f}"
        rows.append([arm, r["lr"], r["mean"], min(r["tests"]), max(r["tests"]), gain])
    print(
        _harness.table(["arm", "lr", "mean test acc", "min", "max", "vs random (pp)"], rows)
    )
    a, b, bn = (results[arm] for arm in ARMS[1:])
    holds = a["helps"] and b["helps"]
    measured = (
        f"test accuracy vs random init (same budget): (a) {100 * a['gain']:+.1f} pp, "
        f"(b) {100 * b['gain']:+.1f} pp, BatchNorm without pre-training "
        f"{100 * bn['gain']:+.1f} pp (± 2 s.e.: {200 * a['se']:.1f}, {200 * b['se']:.1f}, "
        f"{200 * bn['se']:.1f})"
    )
    expected = "both forms above random init by more than 2 standard errors"
    return _harness.finish(holds, measured, expected, figure(results, config, args),
                           results=results, config=config)  # fmt: skip


if __name__ == "__main__":
    main()
