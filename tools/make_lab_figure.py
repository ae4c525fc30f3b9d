"""Draw the README's lab figure: ``python tools/make_lab_figure.py [docs/figures/lab.png]``.

Left: three optimizers from the same start on Rosenbrock's valley
(``ok.lab.plot_landscape``). Right: a population of 24 momentum runs on an
ill-conditioned quadratic, one learning rate each, in one ``ok.lab.run`` call
(``ok.lab.plot_curves``).
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import optkit as ok


def main(path: str = "docs/figures/lab.png") -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    rosenbrock = ok.problems.rosenbrock(2)
    traces = [
        ok.lab.run(rosenbrock, "momentum", steps=3000, lr=2e-4, record=("loss", "x")),
        ok.lab.run(rosenbrock, "adam", steps=3000, lr=2e-2, record=("loss", "x")),
        ok.lab.run(rosenbrock, "sgd", steps=3000, lr=5e-4, record=("loss", "x")),
    ]
    ok.lab.plot_landscape(
        rosenbrock, traces, ax=left, bounds=((-1.5, -0.5), (1.5, 1.5)), resolution=120
    )
    left.set_title("rosenbrock(2): momentum, Adam, SGD (3,000 steps)", fontsize="small")
    quadratic = ok.problems.quadratic(dim=100, kappa=1e3)
    population = ok.lab.run(
        quadratic,
        "momentum",
        steps=2000,
        momentum=0.9,
        lr=np.geomspace(1e-5, 4e-3, 24),
        every=10,
    )
    ok.lab.plot_curves(population, y="excess", ax=right, max_runs=24, legend=False)
    right.set_title(
        "quadratic(dim=100, κ=1e3): 24 momentum runs, one lab.run call", fontsize="small"
    )
    right.set_ylim(1e-12, 1e6)
    fig.tight_layout()
    fig.savefig(path, dpi=72)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(*sys.argv[1:])
