"""Race every optkit optimizer down the Rosenbrock valley.

    python examples/rosenbrock_race.py [--backend auto|numpy|numba] [--steps 5000]
                                       [--start -1.2 1.0] [--plot rosenbrock_race.png]

Each optimizer starts from the same point on
:math:`f(x, y) = (1 - x)^2 + 100 (y - x^2)^2` (minimum 0 at (1, 1)) with a learning
rate tuned for it, takes the same number of steps, and is ranked by final loss.
The table shows the final loss, the distance to (1, 1), the first step at which the
loss fell below 1e-3 (if it did) and the wall time per step. With matplotlib
installed, the trajectories are drawn over the contours of f.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import optkit as ok

#: (label, optimizer class, keyword arguments): learning rates tuned by hand for
#: this problem and 5,000 steps from (-1.2, 1).
RACERS = [
    ("SGD", ok.SGD, dict(lr=1e-3)),
    ("SGD + momentum", ok.SGD, dict(lr=2e-4, momentum=0.9)),
    ("SGD + Nesterov", ok.SGD, dict(lr=2e-4, momentum=0.9, nesterov=True)),
    ("Delta-bar-delta", ok.DeltaBarDelta, dict(lr=1e-4, kappa=1e-5, phi=0.5, theta=0.7)),
    ("AdaGrad", ok.Adagrad, dict(lr=0.5)),
    ("RMSProp", ok.RMSprop, dict(lr=1e-3, alpha=0.9)),
    ("Adam", ok.Adam, dict(lr=2e-2)),
    ("AMSGrad", ok.Adam, dict(lr=2e-2, amsgrad=True)),
    ("AdamW", ok.AdamW, dict(lr=2e-2, weight_decay=0.0)),
    ("NAdam", ok.NAdam, dict(lr=2e-2)),
]


def rosenbrock(p: np.ndarray) -> float:
    """f(x, y) = (1 - x)^2 + 100 (y - x^2)^2."""
    x, y = float(p[0]), float(p[1])
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def rosenbrock_grad(p: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The gradient of :func:`rosenbrock`, written into ``out``."""
    x, y = float(p[0]), float(p[1])
    out[0] = -2 * (1 - x) - 400 * x * (y - x * x)
    out[1] = 200 * (y - x * x)
    return out


def race(label, cls, kwargs, start, steps, backend):
    """Run one optimizer; returns its row of results and its trajectory."""
    p = np.array(start, dtype=np.float64)
    g = np.zeros_like(p)
    opt = cls(p, backend=backend, **kwargs)
    path = np.empty((steps + 1, 2))
    path[0] = p
    reached = None
    elapsed = 0.0
    for k in range(steps):
        rosenbrock_grad(p, g)
        t0 = time.perf_counter()
        opt.step(g)
        if k:  # the first step includes compiling (or loading) the kernel
            elapsed += time.perf_counter() - t0
        path[k + 1] = p
        if reached is None and rosenbrock(p) < 1e-3:
            reached = k + 1
    per_step = elapsed / max(steps - 1, 1)
    loss = rosenbrock(p)
    if not np.isfinite(loss):
        loss = float("inf")
    row = dict(
        label=label,
        loss=loss,
        distance=float(np.hypot(*(p - 1.0))),
        reached=reached,
        per_step=per_step,
        backend=opt.backend,
    )
    return row, path


def print_table(rows, steps) -> None:
    """Ranked by final loss."""
    print(f"Rosenbrock race: {steps} steps each, backend {rows[0]['backend']!r}")
    print(
        f"{'rank':>4}  {'optimizer':<16}{'final loss':>12}{'dist to (1,1)':>15}"
        f"{'steps to 1e-3':>15}{'us/step':>9}"
    )
    for rank, row in enumerate(sorted(rows, key=lambda r: r["loss"]), 1):
        reached = "-" if row["reached"] is None else str(row["reached"])
        print(
            f"{rank:>4}  {row['label']:<16}{row['loss']:>12.3e}{row['distance']:>15.3e}"
            f"{reached:>15}{row['per_step'] * 1e6:>9.1f}"
        )


def plot(paths, start, filename) -> bool:
    """Trajectories over the contours of f; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    xs, ys = np.meshgrid(np.linspace(-2, 2, 400), np.linspace(-1, 3, 400))
    zs = (1 - xs) ** 2 + 100 * (ys - xs**2) ** 2
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.contour(xs, ys, np.log10(zs + 1e-3), levels=30, cmap="Greys", linewidths=0.6)
    for label, path in paths.items():
        ax.plot(path[:, 0], path[:, 1], lw=1.2, label=label)
    ax.plot(*start, "ko")
    ax.plot(1, 1, "r*", ms=14)
    ax.set(
        xlim=(-2, 2), ylim=(-1, 3), xlabel="x", ylabel="y", title="optkit: Rosenbrock race"
    )
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(filename, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return True


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="auto", choices=["auto", "numpy", "numba"])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--start", type=float, nargs=2, default=(-1.2, 1.0))
    parser.add_argument(
        "--plot",
        default="rosenbrock_race.png",
        help="where to save the picture (needs matplotlib)",
    )
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    rows, paths = [], {}
    for label, cls, kwargs in RACERS:
        row, path = race(label, cls, kwargs, args.start, args.steps, args.backend)
        rows.append(row)
        paths[label] = path
    print_table(rows, args.steps)
    if plot(paths, args.start, args.plot):
        print(f"trajectories saved to {args.plot}")
    else:
        print("matplotlib is not installed: no picture (pip install matplotlib)")


if __name__ == "__main__":
    main()
