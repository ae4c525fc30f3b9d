"""Nesterov's accelerated gradient: f − f* falls like 1/k² where gradient descent gives 1/k.

Claim (Goodfellow, Bengio & Courville (2016), *Deep Learning*, §8.3.3): in the convex
batch-gradient case Nesterov momentum brings the rate of convergence of the excess
error from O(1/k) (after k steps) to O(1/k²); with stochastic gradients it does not
improve the rate.

Measured with the lab on a smooth convex quadratic that is *not* strongly convex:
``quadratic(eigenvalues=[0, 1e-10 … 1])`` (one zero and log-spaced eigenvalues, so
that at every k some directions are still untouched), L = 1, from the start with unit
components along every eigenvector. Gradient descent with α = 1/L, and Nesterov's
method with α = 1/L and the momentum sequence μ_t = (t + 1)/(t + 4) (the
(k − 1)/(k + 2) of Nesterov (1983) and Beck & Teboulle (2009); a constant μ would not
accelerate here). The fitted slopes of log(f − f*) against log k over k = 10 … the
last step, the published bounds L‖x₀ − x*‖²/(2k) and 2L‖x₀ − x*‖²/(k + 1)² beside
them; then the same runs with Gaussian gradient noise (``noise=σ``, ten seeds each,
one population per method) and the final advantage f_GD / f_Nesterov with and without
noise.

Holds when the slopes are in [−1.2, −0.8] (gradient descent) and [−2.3, −1.7]
(Nesterov). The stochastic comparison is reported.

    python examples/nesterov.py [--quick] [--backend numba] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import _harness
import numpy as np

import optkit as ok

NOISE = 1e-3
SEEDS = 10


def nesterov_momentum(t: int) -> float:
    """μ_t = (t + 1)/(t + 4): Nesterov's (k − 1)/(k + 2) with k = t + 2."""
    return (t + 1) / (t + 4)


def problem(noise: float = 0.0):
    eigenvalues = np.concatenate([[0.0], np.geomspace(1e-10, 1.0, 99)])
    return ok.problems.quadratic(eigenvalues=eigenvalues, rotate=False, noise=noise)


def fit_window(trace, start: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Log-spaced steps in [start, last] and the mean excess there (over runs)."""
    last = int(trace.steps[-1])
    ks = np.unique(np.geomspace(start, last, 40).astype(int))
    return ks, trace.excess()[ks].mean(axis=1)


def runs(args, steps: int, noise: float) -> dict:
    q = problem(noise)
    common = dict(record=("loss",), backend=args.backend)
    if noise:
        seeds = [args.seed + k for k in range(SEEDS)]
        common.update(stochastic=True, seed=seeds)
        lr = [1.0] * SEEDS
    else:
        lr = [1.0]
    gd = ok.lab.run(q, "sgd", steps, lr=lr, **common)
    nag = ok.lab.run(q, "nesterov", steps, lr=lr, momentum=nesterov_momentum, **common)
    return dict(gd=gd, nag=nag, problem=q)


def plot(args, clean: dict, noisy: dict, slopes: dict) -> str | None:
    plt = _harness.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.9))
    q = clean["problem"]
    dist2 = float(np.sum(q.eigenvalues > 0))  # unit components along λ > 0
    ks = clean["gd"].steps[1:].astype(float)
    ax = axes[0]
    for key, color, name in (("gd", "C0", "gradient descent"), ("nag", "C3", "Nesterov")):
        trace = clean[key]
        ax.loglog(trace.steps[1:], trace.excess()[1:, 0], color=color, lw=1.1,
                  label=f"{name} (slope {slopes[key]:.2f})")  # fmt: skip
    ax.loglog(ks, dist2 / (2 * ks), "--", color="C0", lw=0.8, label="bound L‖x₀−x*‖²/2k")
    ax.loglog(ks, 2 * dist2 / (ks + 1) ** 2, "--", color="C3", lw=0.8,
              label="bound 2L‖x₀−x*‖²/(k+1)²")  # fmt: skip
    ax.set(xlabel="step k", ylabel="f − f*", title="exact gradients")
    ax.legend(fontsize=7)
    ax = axes[1]
    for key, color, name in (("gd", "C0", "gradient descent"), ("nag", "C3", "Nesterov")):
        trace = noisy[key]
        ax.loglog(trace.steps[1:], trace.excess()[1:].mean(axis=1), color=color, lw=1.1,
                  label=f"{name}, mean of {trace.runs}")  # fmt: skip
        ax.loglog(clean[key].steps[1:], clean[key].excess()[1:, 0], ":", color=color,
                  lw=0.8)  # fmt: skip
    ax.set(xlabel="step k", ylabel="f − f*",
           title=f"gradient noise σ = {NOISE:g} (dotted: exact)")  # fmt: skip
    ax.legend(fontsize=7)
    fig.suptitle("Nesterov momentum (Goodfellow et al. 2016, §8.3.3)", fontsize=10, y=1.03)
    return _harness.save_figure(fig, args.out, "nesterov.png")


def main(argv=None) -> dict:
    args = _harness.parser(__doc__.splitlines()[0]).parse_args(argv)
    steps = 1000 if args.quick else 10_000
    clean = runs(args, steps, 0.0)
    noisy = runs(args, steps, NOISE)
    slopes = {}
    for key in ("gd", "nag"):
        ks, excess = fit_window(clean[key])
        slopes[key] = _harness.loglog_slope(ks, excess)
    final = {
        (kind, key): float(d[key].excess()[-1].mean())
        for kind, d in (("exact", clean), ("noisy", noisy))
        for key in ("gd", "nag")
    }
    gain = {kind: final[(kind, "gd")] / final[(kind, "nag")] for kind in ("exact", "noisy")}
    print(f"{steps} steps, α = 1/L; noisy: σ = {NOISE:g}, mean of {SEEDS} seeds")
    print(_harness.table(
        ["gradients", "GD f − f*", "Nesterov f − f*", "GD / Nesterov"],
        [(kind, final[(kind, "gd")], final[(kind, "nag")], gain[kind])
         for kind in ("exact", "noisy")],
    ))  # fmt: skip
    print(f"fitted slopes of log(f − f*) vs log k, k = 10…{steps}: "
          f"GD {slopes['gd']:.3f}, Nesterov {slopes['nag']:.3f}")  # fmt: skip
    holds = -1.2 <= slopes["gd"] <= -0.8 and -2.3 <= slopes["nag"] <= -1.7
    figure = plot(args, clean, noisy, slopes)
    return _harness.finish(
        holds,
        f"slopes GD {slopes['gd']:.2f}, Nesterov {slopes['nag']:.2f}; advantage "
        f"{gain['exact']:.3g}x exact, {gain['noisy']:.3g}x with noise",
        "GD −0.8…−1.2, Nesterov −1.7…−2.3",
        figure,
        slope_gd=slopes["gd"],
        slope_nesterov=slopes["nag"],
        advantage_exact=gain["exact"],
        advantage_noisy=gain["noisy"],
    )


if __name__ == "__main__":
    main()
