"""Ill-conditioning: gradient descent slows down in proportion to the condition number.

Claim (Goodfellow, Bengio & Courville (2016), *Deep Learning*, §8.2.1 and eq. 4.9):
a gradient step −αg changes the cost by about

    Δf ≈ −α gᵀg + ½ α² gᵀHg,

so the step *raises* the cost when ½α²gᵀHg > αgᵀg; the largest curvature λ_max caps
the usable step (α < 2/λ_max), and the directions of small curvature then crawl:
gradient descent needs a number of steps proportional to κ = λ_max/λ_min.

Measured with the lab:

1. On ``quadratic(dim=10, kappa=1e3)`` a population of four step sizes
   α·λ_max ∈ {0.5, 1, 1.9, 2.01} records gᵀg, gᵀHg and the predicted change at every
   step; the prediction is compared with the actual change of f (on a quadratic the
   expansion is exact: only rounding separates them), and the steps it flags as
   raising the cost are counted.
2. Steps to reach f − f* ≤ 1e-6 with α = 1/λ_max on quadratics with κ = 10 … 1e4, and
   the fitted slope of log(steps) against log(κ); beside them, the exact count from
   the closed form f(t) = ½ Σᵢ λᵢ (1 − αλᵢ)^{2t} (start with unit components).

Holds when the predicted change agrees with the actual one to a relative error
≤ 1e-8, the flagged steps are exactly those that raised the cost, and the fitted
slope is in [0.9, 1.1].

A note on gᵀg: on a quadratic every eigen-component of g shrinks by |1 − αλᵢ| per
step, so under any stable step gᵀg shrinks monotonically; it grows only once
α > 2/λ_max (the last run). The book's observation that gᵀg can grow while the loss
falls (its Fig. 8.1, a convolutional network) needs curvature that changes along the
path; the table reports gᵀg at the end over gᵀg at the start for every run.

    python examples/ill_conditioning.py [--quick] [--backend numba] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import _harness
import numpy as np

import optkit as ok

TOL = 1e-6
STEP_FACTORS = (0.5, 1.0, 1.9, 2.01)  # α·λ_max


def curvature_population(args, steps: int) -> dict:
    """Predicted vs actual change for four step sizes, as one population."""
    q = ok.problems.quadratic(dim=10, kappa=1e3, seed=args.seed)
    lrs = np.array(STEP_FACTORS) / q.eigenvalues[-1]
    trace = ok.lab.run(
        q, "sgd", steps, lr=lrs, record=("loss", "curvature"), backend=args.backend
    )
    f = trace["loss"]
    actual = np.diff(f, axis=0)
    predicted = trace["predicted_change"][:-1]
    moved = actual != 0
    rel_err = np.where(
        moved, np.abs(predicted - actual) / np.where(moved, np.abs(actual), 1), 0
    )
    flagged = trace["raises"][:-1].astype(bool)
    return dict(
        trace=trace,
        lrs=lrs,
        actual=actual,
        predicted=predicted,
        rel_err=rel_err.max(axis=0),
        flagged=flagged.mean(axis=0),
        rose=(actual > 0).mean(axis=0),
        agree=bool(np.all(flagged == (actual > 0))),
        gtg_ratio=trace["gTg"][-1] / trace["gTg"][0],
        f_ratio=f[-1] / f[0],
    )


def predicted_steps(eigenvalues: np.ndarray, lr: float, tol: float) -> int:
    """The first t with ½ Σ λᵢ (1 − αλᵢ)^{2t} ≤ tol (bisection: f(t) decreases)."""

    def f(t: int) -> float:
        return 0.5 * float(np.sum(eigenvalues * (1 - lr * eigenvalues) ** (2 * t)))

    low, high = 0, 1
    while f(high) > tol:
        low, high = high, 2 * high
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if f(mid) > tol else (low, mid)
    return high


def kappa_sweep(args, kappas) -> dict:
    """Steps to f − f* ≤ TOL for α = 1/λ_max, one run per κ.

    Gradient descent is rotation invariant, so the axis-aligned quadratic (Q = I) gives
    the same iterates in exact arithmetic as a rotated one, at a fraction of the cost.
    """
    measured, predicted = [], []
    for kappa in kappas:
        q = ok.problems.quadratic(dim=10, kappa=kappa, rotate=False)
        lr = 1.0 / q.eigenvalues[-1]
        expected = predicted_steps(q.eigenvalues, lr, TOL)
        trace = ok.lab.run(
            q, "sgd", int(1.2 * expected) + 10, lr=[lr], record=("loss",),
            backend=args.backend,
        )  # fmt: skip
        measured.append(int(trace.steps_to(TOL)[0]))
        predicted.append(expected)
    measured, predicted = np.array(measured), np.array(predicted)
    reached = measured > 0
    slope = (
        _harness.loglog_slope(np.array(kappas)[reached], measured[reached])
        if reached.sum() >= 2
        else float("nan")
    )
    return dict(kappas=np.array(kappas), steps=measured, predicted=predicted, slope=slope)


def plot(args, cur: dict, sweep: dict) -> str | None:
    plt = _harness.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(STEP_FACTORS)))
    ax = axes[0]
    for k, c in enumerate(colors):
        a, p = np.abs(cur["actual"][:, k]), np.abs(cur["predicted"][:, k])
        rises = cur["actual"][:, k] > 0
        ax.loglog(
            a[~rises], p[~rises], ".", color=c, ms=3, label=f"αλmax={STEP_FACTORS[k]}"
        )
        ax.loglog(a[rises], p[rises], "x", color=c, ms=3)
    lim = [np.abs(cur["actual"][cur["actual"] != 0]).min(), np.abs(cur["actual"]).max()]
    ax.loglog(lim, lim, "k-", lw=0.6)
    ax.set(xlabel="|actual change of f|", ylabel="|−αgᵀg + ½α²gᵀHg|",
           title="second-order prediction (x: cost rose)")  # fmt: skip
    ax.legend(fontsize=7)
    ax = axes[1]
    trace = cur["trace"]
    for k, c in enumerate(colors):
        ax.semilogy(trace.steps, trace["gTg"][:, k], color=c, lw=1.2)
        ax.semilogy(trace.steps, trace["gTHg"][:, k] / 1e3, "--", color=c, lw=0.9)
    ax.set(xlabel="step", ylabel="gᵀg (solid), gᵀHg / λmax (dashed)",
           title="quadratic, κ = 1e3", ylim=(1e-12, 1e12))  # fmt: skip
    ax = axes[2]
    ks = sweep["kappas"]
    ax.loglog(ks, sweep["predicted"], "k-", lw=1, label="closed form ½Σλ(1−αλ)^{2t}")
    ok_ = sweep["steps"] > 0
    ax.loglog(ks[ok_], sweep["steps"][ok_], "o", color="C3",
              label=f"measured (slope {sweep['slope']:.3f})")  # fmt: skip
    ax.set(xlabel="condition number κ", ylabel=f"steps to f − f* ≤ {TOL:g}",
           title="gradient descent, α = 1/λmax")  # fmt: skip
    ax.legend(fontsize=8)
    fig.suptitle("Ill-conditioning (Goodfellow et al. 2016, §8.2.1)", fontsize=10, y=1.03)
    return _harness.save_figure(fig, args.out, "ill_conditioning.png")


def main(argv=None) -> dict:
    args = _harness.parser(__doc__.splitlines()[0]).parse_args(argv)
    steps = 300 if args.quick else 1000
    kappas = [10.0, 100.0, 1e3] if args.quick else [10.0, 100.0, 1e3, 1e4]
    cur = curvature_population(args, steps)
    sweep = kappa_sweep(args, kappas)
    rows = [
        (f, lr, fl, ro, e, g, fr)
        for f, lr, fl, ro, e, g, fr in zip(
            STEP_FACTORS, cur["lrs"], cur["flagged"], cur["rose"], cur["rel_err"],
            cur["gtg_ratio"], cur["f_ratio"],
        )
    ]  # fmt: skip
    print(f"quadratic(dim=10, kappa=1e3), {steps} gradient steps per run, one population")
    print(_harness.table(
        ["αλmax", "lr", "flagged", "rose", "max rel err", "gᵀg end/start", "f end/start"],
        rows,
    ))  # fmt: skip
    print(_harness.table(
        ["κ", "steps to 1e-6", "closed form"],
        [(float(k), int(s), int(p)) for k, s, p in
         zip(sweep["kappas"], sweep["steps"], sweep["predicted"])],
    ))  # fmt: skip
    max_err = float(cur["rel_err"].max())
    slope = sweep["slope"]
    holds = max_err <= 1e-8 and cur["agree"] and 0.9 <= slope <= 1.1
    figure = plot(args, cur, sweep)
    return _harness.finish(
        holds,
        f"prediction rel err {max_err:.1e}, flagged steps = rising steps: "
        f"{'yes' if cur['agree'] else 'no'}, slope of steps vs κ {slope:.3f} "
        f"(κ {kappas[0]:g}…{kappas[-1]:g})",
        "rel err ≤ 1e-8, flags = rises, slope in [0.9, 1.1]",
        figure,
        max_rel_err=max_err,
        flags_agree=cur["agree"],
        flagged=cur["flagged"].tolist(),
        slope=slope,
        kappas=kappas,
        steps=sweep["steps"].tolist(),
        predicted_steps=sweep["predicted"].tolist(),
        gtg_ratio=cur["gtg_ratio"].tolist(),
    )


if __name__ == "__main__":
    main()
