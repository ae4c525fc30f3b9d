"""Polyak averaging: the average of the last N iterates is a less noisy estimate than
the last one.

Claim (Goodfellow, Bengio & Courville (2016), *Deep Learning*, §8.7.3, after Polyak
& Juditsky (1992)): averaging the points visited by an optimizer that keeps
fluctuating around a minimum (SGD with a constant learning rate) gives a better
final estimate; the running (window) average over the last N steps denoises it.

Measured with the lab on ``quadratic(dim=10, kappa=10, noise=1)`` with SGD at
α = 1/λ_max for 3,000 steps, 20 seeds, one population per window N ∈ {10, 100,
1000} (``average=("window", N)``; the seeds are shared, so the last iterates are the
same runs): the excess loss f − f* = ½ Σᵢ λᵢ zᵢ² (the curvature-weighted variance
around the minimum) of the last iterate and of each window average, as means over
the seeds. Beside them the exact stationary values for this linear recursion: each
eigen-coordinate is an AR(1) process zₜ₊₁ = ρᵢ zₜ + ασξ with ρᵢ = 1 − αλᵢ, whose
stationary variance is s² = α²σ²/(1 − ρ²) and whose N-step average has variance

    s²/N · [(1 + ρ)/(1 − ρ) − 2ρ(1 − ρᴺ) / (N(1 − ρ)²)].

Holds when for every N the average's excess loss is ≤ the last iterate's divided by
N/10.

    python examples/polyak_averaging.py [--quick] [--backend numba] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import _harness
import numpy as np

import optkit as ok

WINDOWS = (10, 100, 1000)
SEEDS = 20


def problem():
    return ok.problems.quadratic(dim=10, kappa=10.0, rotate=False, noise=1.0)


def predicted(q, lr: float, window: int | None) -> float:
    """Stationary excess loss of the last iterate (window None) or an N-average."""
    rho = 1 - lr * q.eigenvalues
    s2 = lr**2 * q.noise**2 / (1 - rho**2)
    if window is None:
        var = s2
    else:
        n = window
        var = (
            s2 / n * ((1 + rho) / (1 - rho) - 2 * rho * (1 - rho**n) / (n * (1 - rho) ** 2))
        )
    return float(0.5 * np.sum(q.eigenvalues * var))


def run_windows(args, steps: int, seeds: int) -> dict:
    q = problem()
    lr = 1.0 / q.eigenvalues[-1]
    traces = {
        n: ok.lab.run(q, "sgd", steps, lr=lr, average=("window", n), stochastic=True,
                      seed=[args.seed + k for k in range(seeds)], record=("loss", "x"),
                      every=max(steps // 300, 1), backend=args.backend)
        for n in WINDOWS
    }  # fmt: skip
    last = traces[WINDOWS[0]].excess()[-1]
    same = all(
        np.array_equal(t.x_final, traces[WINDOWS[0]].x_final) for t in traces.values()
    )
    averages = {n: t["avg_loss"][-1] - q.f_star for n, t in traces.items()}
    return dict(problem=q, lr=lr, traces=traces, last=last, averages=averages, same=same)


def plot(args, res: dict) -> str | None:
    plt = _harness.pyplot()
    if plt is None:
        return None
    q, lr, traces = res["problem"], res["lr"], res["traces"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ax = axes[0]
    t = traces[WINDOWS[-1]]
    ax.semilogy(t.steps, t.excess()[:, 0], color="0.6", lw=0.8, label="last iterate")
    for n, color in zip(WINDOWS, ("C0", "C2", "C3")):
        tr = traces[n]
        ax.semilogy(tr.steps, tr["avg_loss"][:, 0] - q.f_star, color=color, lw=1.1,
                    label=f"window N = {n}")  # fmt: skip
    ax.set(xlabel="step", ylabel="f − f*", title="one seed", ylim=(1e-5, None))
    ax.legend(fontsize=7)
    ax = axes[1]
    ns = np.array(WINDOWS)
    grid = np.unique(np.geomspace(1, 3000, 60).astype(int))
    ax.loglog(ns, [res["averages"][n].mean() for n in WINDOWS], "o", color="C3",
              label=f"window average (mean of {len(res['last'])} seeds)")  # fmt: skip
    ax.loglog(grid, [predicted(q, lr, int(n)) for n in grid], "-", color="C3", lw=0.8,
              label="stationary AR(1) formula")  # fmt: skip
    ax.axhline(res["last"].mean(), color="0.4", lw=1, label="last iterate (measured)")
    ax.loglog(grid, res["last"].mean() / (grid / 10), "k:", lw=0.8, label="last / (N/10)")
    ax.set(xlabel="window N", ylabel="E[f − f*]", title=f"SGD, α = {lr:g}, σ = 1")
    ax.legend(fontsize=7)
    ax = axes[2]
    zl = q.to_eigenbasis(traces[WINDOWS[0]].x_final)
    za = q.to_eigenbasis(traces[WINDOWS[-1]].x_average)
    ax.plot(zl[:, 0], zl[:, -1], "o", color="0.6", ms=4, label="last iterates")
    ax.plot(za[:, 0], za[:, -1], "o", color="C3", ms=4, label="averages, N = 1000")
    ax.plot(0, 0, "k*", ms=10)
    ax.set(xlabel="along λ_min", ylabel="along λ_max", title="final estimates, every seed")
    ax.legend(fontsize=7)
    fig.suptitle("Polyak averaging (Goodfellow et al. 2016, §8.7.3)", fontsize=10, y=1.03)
    return _harness.save_figure(fig, args.out, "polyak_averaging.png")


def main(argv=None) -> dict:
    args = _harness.parser(__doc__.splitlines()[0]).parse_args(argv)
    res = run_windows(args, 3000, 10 if args.quick else SEEDS)
    q, lr = res["problem"], res["lr"]
    last = float(res["last"].mean())
    rows = [("last iterate", last, predicted(q, lr, None), "", "")]
    ratios = {}
    for n in WINDOWS:
        avg = float(res["averages"][n].mean())
        ratios[n] = last / avg
        rows.append((f"window {n}", avg, predicted(q, lr, n), ratios[n], n / 10))
    print(f"noisy quadratic, SGD α = {lr:g}, 3000 steps, {len(res['last'])} seeds "
          f"(same last iterates in every population: {res['same']})")  # fmt: skip
    print(
        _harness.table(
            ["estimate", "E[f − f*]", "formula", "last / average", "needed"], rows
        )
    )
    holds = all(ratios[n] >= n / 10 for n in WINDOWS)
    figure = plot(args, res)
    return _harness.finish(
        holds,
        "last / average = " + ", ".join(f"{ratios[n]:.3g} (N={n})" for n in WINDOWS),
        "≥ N/10 = " + ", ".join(f"{n / 10:g}" for n in WINDOWS),
        figure,
        last=last,
        ratios=ratios,
        averages={n: float(res["averages"][n].mean()) for n in WINDOWS},
        same_last_iterates=res["same"],
    )


if __name__ == "__main__":
    main()
