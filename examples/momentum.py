"""Momentum: the heavy ball needs ∝ √κ steps where gradient descent needs ∝ κ.

Claim (Goodfellow, Bengio & Courville (2016), *Deep Learning*, §8.3.2, after Polyak
(1964)): momentum accumulates an exponentially decaying average of past gradients
and keeps moving along directions of small but consistent gradient, which overcomes
poor conditioning of the Hessian. On a quadratic with eigenvalues in [λ₁, λₙ],
κ = λₙ/λ₁, the best constant step of gradient descent, α = 2/(λ₁ + λₙ), contracts
the error by (κ − 1)/(κ + 1) per step; the heavy ball with α = 4/(√λ₁ + √λₙ)² and
μ = ((√κ − 1)/(√κ + 1))² contracts it by (√κ − 1)/(√κ + 1): ∝ κ versus ∝ √κ steps.

Measured with the lab on ``quadratic(dim=10, kappa=κ)`` for κ = 10 … 1e4: steps to
f − f* ≤ 1e-6 with the closed-form settings (the book's velocity form,
``"heavy_ball"``), the fitted slope of log(steps) against log(κ), and the measured
contraction rate per step (fitted to log √f over the second half of each run; at
the tuned heavy ball the extreme modes are critically damped — a double root — and
decay as t·ρᵗ, so there the fit is to log(√f / t)). A population sweep of learning
rates around the closed forms is the check: it reports how close the formulas come
to the best learning rate for this start and tolerance.

Holds when the slopes are in [0.9, 1.1] (gradient descent) and [0.4, 0.6] (heavy
ball), and each measured rate is within 5 % of its formula — compared in the
exponent −log(rate), which is much stricter than 5 % of a rate close to 1.

    python examples/momentum.py [--quick] [--backend numba] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import _harness
import numpy as np

import optkit as ok

TOL = 1e-6


def settings(kappa: float) -> dict:
    """Closed-form step sizes, momentum and rates for eigenvalues in [1, κ]."""
    root = np.sqrt(kappa)
    return dict(
        gd_lr=2.0 / (1.0 + kappa),
        gd_rate=(kappa - 1) / (kappa + 1),
        hb_lr=4.0 / (1.0 + root) ** 2,
        hb_momentum=((root - 1) / (root + 1)) ** 2,
        hb_rate=(root - 1) / (root + 1),
    )


def start_loss(kappa: float) -> float:
    """f(x0) − f* = ½ Σ λᵢ for the start with unit components along every eigenvector."""
    return 0.5 * float(np.sum(ok.problems.quadratic(dim=10, kappa=kappa).eigenvalues))


def fitted_rate(trace, reached: int, critical: bool) -> float:
    """exp(slope) of log √f (or log(√f/t) when critically damped) over [s/2, s]."""
    f = trace["loss"][:, 0]
    t = np.arange(max(reached // 2, 1), reached + 1)
    y = 0.5 * np.log(f[t]) - (np.log(t) if critical else 0.0)
    return float(np.exp(_harness.fit_line(t, y)[0]))


def race_kappa(args, kappa: float) -> dict:
    """Gradient descent and the heavy ball with their closed-form settings."""
    q = ok.problems.quadratic(dim=10, kappa=kappa, rotate=False)
    s = settings(kappa)
    steps = {  # generous budgets from the rates: the runs stop being recorded there
        "gd": int(np.log(1e-9) / np.log(s["gd_rate"])) + 20,
        "hb": int(3 * np.log(1e-9) / np.log(s["hb_rate"])) + 50,
    }
    gd = ok.lab.run(q, "sgd", steps["gd"], lr=[s["gd_lr"]], record=("loss",),
                    backend=args.backend)  # fmt: skip
    hb = ok.lab.run(q, "heavy_ball", steps["hb"], lr=[s["hb_lr"]],
                    momentum=[s["hb_momentum"]], record=("loss",),
                    backend=args.backend)  # fmt: skip
    out = dict(kappa=kappa, **s, gd_trace=gd, hb_trace=hb)
    for name, trace in (("gd", gd), ("hb", hb)):
        reached = int(trace.steps_to(TOL)[0])
        out[f"{name}_steps"] = reached
        out[f"{name}_measured_rate"] = (
            fitted_rate(trace, reached, critical=name == "hb") if reached > 0 else np.nan
        )
    return out


def sweep(args, kappa: float) -> dict:
    """A population of learning rates around each closed form (one run per method)."""
    q = ok.problems.quadratic(dim=10, kappa=kappa, rotate=False)
    s = settings(kappa)
    gd_factors = np.geomspace(0.25, 1.0, 11)
    hb_factors = np.geomspace(0.25, 2.0, 13)
    budget = int(np.log(1e-9) / np.log(s["gd_rate"])) + 20
    gd = ok.lab.run(q, "sgd", budget, lr=s["gd_lr"] * gd_factors, record=("loss",),
                    backend=args.backend)  # fmt: skip
    budget = int(3 * np.log(1e-9) / np.log(s["hb_rate"])) + 50
    hb = ok.lab.run(q, "heavy_ball", budget, lr=s["hb_lr"] * hb_factors,
                    momentum=s["hb_momentum"], record=("loss",),
                    backend=args.backend)  # fmt: skip
    return dict(
        kappa=kappa,
        gd_factors=gd_factors,
        gd_steps=gd.steps_to(TOL),
        hb_factors=hb_factors,
        hb_steps=hb.steps_to(TOL),
    )


def best(factors, steps) -> tuple[float, int]:
    reached = steps > 0
    i = int(np.argmin(np.where(reached, steps, np.iinfo(np.int64).max)))
    return float(factors[i]), int(steps[i])


def plot(args, runs: list, sw: dict, slopes: dict) -> str | None:
    plt = _harness.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    shown = runs[-2] if len(runs) > 2 else runs[-1]
    for name, color, label in (
        ("gd", "C0", "gradient descent"),
        ("hb", "C3", "heavy ball"),
    ):
        trace = shown[f"{name}_trace"]
        f = trace["loss"][:, 0]
        ax.semilogy(trace.steps, f, color=color, lw=1.2, label=label)
        rate = shown[f"{name}_rate"]
        ax.semilogy(trace.steps, f[0] * rate ** (2.0 * trace.steps), "--", color=color,
                    lw=0.8, label=f"f₀·ρ^2t, ρ = {rate:.4f}")  # fmt: skip
    ax.set(xlabel="step", ylabel="f − f*", ylim=(1e-16, 1e4),
           xlim=(0, 3 * max(shown["hb_steps"], 1)),
           title=f"κ = {shown['kappa']:g}")  # fmt: skip
    ax.legend(fontsize=7)
    ax = axes[1]
    kappas = np.array([r["kappa"] for r in runs])
    for name, color, key in (("gd", "C0", "gd_rate"), ("hb", "C3", "hb_rate")):
        steps = np.array([r[f"{name}_steps"] for r in runs], dtype=float)
        ax.loglog(kappas, steps, "o", color=color,
                  label=f"{'GD' if name == 'gd' else 'heavy ball'}: slope "
                        f"{slopes[name]:.3f}")  # fmt: skip
        grid = np.geomspace(kappas[0], kappas[-1], 50)
        rate = np.array([settings(k)[key] for k in grid])
        f0 = np.array([start_loss(k) for k in grid])
        ax.loglog(grid, np.log(np.sqrt(TOL / f0)) / np.log(rate), "-", color=color, lw=0.8)
    ax.set(xlabel="κ", ylabel=f"steps to f − f* ≤ {TOL:g}",
           title="lines: log √(tol/f₀) / log ρ(κ)")  # fmt: skip
    ax.legend(fontsize=8)
    ax = axes[2]
    ax.semilogx(sw["gd_factors"], np.where(sw["gd_steps"] > 0, sw["gd_steps"], np.nan),
                "o-", color="C0", label="GD: lr × factor")  # fmt: skip
    ax.semilogx(sw["hb_factors"], np.where(sw["hb_steps"] > 0, sw["hb_steps"], np.nan),
                "s-", color="C3", label="heavy ball: lr × factor")  # fmt: skip
    ax.axvline(1.0, color="k", lw=0.6)
    ax.set_xscale("linear")
    ax.set_yscale("log")
    ax.set(xlabel="learning rate / closed form", ylabel=f"steps to {TOL:g}",
           title=f"population sweep, κ = {sw['kappa']:g} (missing: diverged)")  # fmt: skip
    ax.legend(fontsize=8)
    fig.suptitle("Momentum (Goodfellow et al. 2016, §8.3.2)", fontsize=10, y=1.03)
    return _harness.save_figure(fig, args.out, "momentum.png")


def main(argv=None) -> dict:
    args = _harness.parser(__doc__.splitlines()[0]).parse_args(argv)
    kappas = [10.0, 100.0, 1e3] if args.quick else [10.0, 100.0, 1e3, 1e4]
    runs = [race_kappa(args, k) for k in kappas]
    sw = sweep(args, 100.0 if args.quick else 1e3)
    slopes, rate_err = {}, {}
    for name in ("gd", "hb"):
        steps = np.array([r[f"{name}_steps"] for r in runs])
        slopes[name] = (
            _harness.loglog_slope(kappas, steps) if np.all(steps > 0) else float("nan")
        )
        rate_err[name] = max(
            abs(np.log(r[f"{name}_measured_rate"]) / np.log(r[f"{name}_rate"]) - 1)
            for r in runs
        )
    print(_harness.table(
        ["κ", "GD steps", "GD rate", "formula", "HB steps", "HB rate", "formula"],
        [(r["kappa"], r["gd_steps"], r["gd_measured_rate"], r["gd_rate"], r["hb_steps"],
          r["hb_measured_rate"], r["hb_rate"]) for r in runs],
    ))  # fmt: skip
    gd_best, hb_best = (
        best(sw["gd_factors"], sw["gd_steps"]),
        best(sw["hb_factors"], sw["hb_steps"]),
    )
    tuned = {r["kappa"]: r for r in runs}[sw["kappa"]]
    print(f"sweep at κ = {sw['kappa']:g}: best GD lr = {gd_best[0]:.3g} × closed form "
          f"({gd_best[1]} steps vs {tuned['gd_steps']}); best heavy-ball lr = "
          f"{hb_best[0]:.3g} × closed form ({hb_best[1]} steps vs {tuned['hb_steps']})")  # fmt: skip
    holds = (
        0.9 <= slopes["gd"] <= 1.1
        and 0.4 <= slopes["hb"] <= 0.6
        and rate_err["gd"] <= 0.05
        and rate_err["hb"] <= 0.05
    )
    figure = plot(args, runs, sw, slopes)
    return _harness.finish(
        holds,
        f"slopes GD {slopes['gd']:.3f}, heavy ball {slopes['hb']:.3f}; rate exponent "
        f"errors GD {rate_err['gd']:.1%}, heavy ball {rate_err['hb']:.1%}",
        "GD 0.9–1.1, heavy ball 0.4–0.6, rates within 5%",
        figure,
        slope_gd=slopes["gd"],
        slope_hb=slopes["hb"],
        rate_err_gd=rate_err["gd"],
        rate_err_hb=rate_err["hb"],
        kappas=kappas,
        gd_steps=[r["gd_steps"] for r in runs],
        hb_steps=[r["hb_steps"] for r in runs],
        sweep_best_gd=gd_best,
        sweep_best_hb=hb_best,
    )


if __name__ == "__main__":
    main()
