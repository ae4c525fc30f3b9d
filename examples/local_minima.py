"""Local minima: many of them, often equally good; where a run lands depends on the
optimizer and the start.

Claim (Goodfellow, Bengio & Courville (2016), *Deep Learning*, §8.2.2): non-convex
functions can have many local minima; local minima are a problem when their cost is
much higher than the global minimum's, but many models have many minima of equal
cost (e.g. from weight-space symmetry), and which one a run reaches depends on where
it starts and how it moves.

Measured with the lab: 1,000 uniform random starts per optimizer, each optimizer one
population run (SGD, SGD + momentum, Adam; same starts for all: run k draws from
seed + k), on

* ``himmelblau()``: four minima, all global (f = 0) — equally good;
* ``rastrigin(2)``: a lattice of local minima with costs ≈ 1, 2, 4, 5, 8, … and one
  global minimum at 0.

Reported: the share of runs reaching the global minimum (f − f* ≤ 1e-6), the
histogram of final values (Rastrigin), the minimum each start reaches (Himmelblau:
its basin of attraction) and how often two optimizers from the same start end in
different minima.

Holds when, on Himmelblau, every optimizer ends ≥ 99 % of its runs at a global
minimum, each of the four minima receives ≥ 10 % of them, and for ≥ 5 % of the starts
some optimizer ends in a different minimum than SGD; and, on Rastrigin, every
optimizer ends in ≥ 10 distinct local minima with < 10 % of its runs at the global
one.

    python examples/local_minima.py [--quick] [--backend numba] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import _harness
import numpy as np

import optkit as ok

#: (label, lab optimizer name, learning rate): every run converges to a minimum.
OPTIMIZERS = [
    ("SGD", "sgd", 2e-3),
    ("momentum 0.9", "momentum", 5e-4),
    ("Adam", "adam", 2e-2),
]
STEPS = 3000


def landings(args, problem, runs: int) -> dict:
    out = {}
    for label, name, lr in OPTIMIZERS:
        trace = ok.lab.run(
            problem, name, STEPS, lr=lr, x0="random", runs=runs, seed=args.seed,
            record=("loss", "x"), every=STEPS, backend=args.backend,
        )  # fmt: skip
        out[label] = trace
    return out


def basin(problem, points: np.ndarray) -> np.ndarray:
    """Index of the nearest of Himmelblau's four minima."""
    d = np.linalg.norm(points[:, None, :] - problem.minima[None], axis=2)
    return np.argmin(d, axis=1)


def himmelblau_stats(problem, traces: dict) -> dict:
    labels = list(traces)
    basins = {k: basin(problem, t.x_final) for k, t in traces.items()}
    shares = {k: np.bincount(b, minlength=4) / b.size for k, b in basins.items()}
    at_global = {k: float(np.mean(t.excess()[-1] <= 1e-6)) for k, t in traces.items()}
    differs = np.zeros(basins[labels[0]].size, dtype=bool)
    for k in labels[1:]:
        differs |= basins[k] != basins[labels[0]]
    return dict(basins=basins, shares=shares, at_global=at_global, differs=differs,
                starts=traces[labels[0]]["x"][0])  # fmt: skip


def rastrigin_stats(traces: dict) -> dict:
    finals = {k: t.final() for k, t in traces.items()}
    return dict(
        finals=finals,
        at_global={k: float(np.mean(f <= 1e-6)) for k, f in finals.items()},
        distinct={k: int(np.unique(np.round(f, 3)).size) for k, f in finals.items()},
    )


def plot(args, him_problem, him: dict, ras: dict) -> str | None:
    plt = _harness.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ax = axes[0]
    colors = np.array(["C0", "C1", "C2", "C3"])
    starts, first = him["starts"], OPTIMIZERS[0][0]
    ax.scatter(starts[:, 0], starts[:, 1], c=colors[him["basins"][first]], s=5)
    d = him["differs"]
    ax.scatter(starts[d, 0], starts[d, 1], marker="x", c="k", s=12, lw=0.7,
               label="another optimizer lands elsewhere")  # fmt: skip
    ax.plot(*him_problem.minima.T, "*", color="white", mec="black", ms=13)
    ax.set(xlabel="x", ylabel="y", title="Himmelblau: starts coloured by SGD's minimum")
    ax.legend(fontsize=7, loc="lower left")
    ax = axes[1]
    width = 0.25
    for i, (label, share) in enumerate(him["shares"].items()):
        ax.bar(np.arange(4) + (i - 1) * width, share, width, label=label)
    ax.set(xticks=range(4), xticklabels=[f"({x:.2f}, {y:.2f})" for x, y in him_problem.minima],
           ylabel="share of runs", title="Himmelblau: four minima, f = 0 at each")  # fmt: skip
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7)
    ax = axes[2]
    top = max(float(f.max()) for f in ras["finals"].values())
    bins = np.arange(-0.5, top + 1.5, 1.0)
    ax.hist(list(ras["finals"].values()), bins=bins,
            label=[f"{k}: {ras['at_global'][k]:.1%} global" for k in ras["finals"]])  # fmt: skip
    ax.set(xlabel="final f", ylabel="runs", title="Rastrigin: final values of 1,000 runs")
    ax.legend(fontsize=7)
    fig.suptitle("Local minima (Goodfellow et al. 2016, §8.2.2)", fontsize=10, y=1.03)
    return _harness.save_figure(fig, args.out, "local_minima.png")


def main(argv=None) -> dict:
    args = _harness.parser(__doc__.splitlines()[0]).parse_args(argv)
    runs = 300 if args.quick else 1000
    him_problem = ok.problems.himmelblau()
    him = himmelblau_stats(him_problem, landings(args, him_problem, runs))
    ras = rastrigin_stats(landings(args, ok.problems.rastrigin(2), runs))
    print(f"{runs} random starts per optimizer, {STEPS} steps, one population each")
    print(_harness.table(
        ["optimizer", "lr", "Himmelblau at f*", "share per minimum", "Rastrigin at f*",
         "distinct minima"],
        [(label, lr, him["at_global"][label],
          " ".join(f"{s:.2f}" for s in him["shares"][label]), ras["at_global"][label],
          ras["distinct"][label]) for label, _, lr in OPTIMIZERS],
    ))  # fmt: skip
    differs = float(him["differs"].mean())
    print(f"Himmelblau: {differs:.1%} of the starts end in another minimum under some "
          f"optimizer than under SGD")  # fmt: skip
    checks = {
        "Himmelblau ≥ 99% global": min(him["at_global"].values()) >= 0.99,
        "every minimum ≥ 10%": min(float(s.min()) for s in him["shares"].values()) >= 0.1,
        "optimizer changes the minimum ≥ 5%": differs >= 0.05,
        "Rastrigin ≥ 10 minima": min(ras["distinct"].values()) >= 10,
        "Rastrigin < 10% global": max(ras["at_global"].values()) < 0.1,
    }
    failed = [name for name, ok_ in checks.items() if not ok_]
    figure = plot(args, him_problem, him, ras)
    return _harness.finish(
        not failed,
        f"Himmelblau: ≥ {min(him['at_global'].values()):.1%} of runs at a global minimum, "
        f"{differs:.1%} of starts land elsewhere with another optimizer; Rastrigin: "
        f"{min(ras['distinct'].values())}+ distinct minima, ≤ "
        f"{max(ras['at_global'].values()):.1%} global"
        + (f"; fails: {', '.join(failed)}" if failed else ""),
        "≥ 99%, every minimum ≥ 10%, ≥ 5%; ≥ 10 minima, < 10% global",
        figure,
        himmelblau_at_global=him["at_global"],
        himmelblau_differs=differs,
        rastrigin_at_global=ras["at_global"],
        rastrigin_distinct=ras["distinct"],
        failed=failed,
    )


if __name__ == "__main__":
    main()
