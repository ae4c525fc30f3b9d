"""Adam's bias correction: without it the first updates have the wrong size.

Claim (Goodfellow, Bengio & Courville (2016), *Deep Learning*, §8.5.3, Algorithm
8.7, after Kingma & Ba (2015)): Adam's moment estimates s and r start at zero, so
early on they are biased towards zero; dividing by 1 − ρ₁ᵗ and 1 − ρ₂ᵗ corrects
this. For a constant gradient the uncorrected update is the corrected one times

    (1 − ρ₁ᵗ) / √(1 − ρ₂ᵗ),

which is 0.1/√0.001 ≈ 3.16 at the first step with the defaults ρ₁ = 0.9,
ρ₂ = 0.999, rises to about 6.5 at step 10 and returns to 1 only after thousands of
steps.

The extension point: the rule is written *in this script* — Algorithm 8.7 as one
element-wise function (``@ok.rule``) and a thin ``ok.Optimizer`` subclass that
computes the corrections on the host (``bias_correction=False`` sets them to 1) —
and runs through optkit like its own optimizers (any backend; a population in the
lab with one (ρ₁, ρ₂) per run).

Measured with the lab on ``quadratic(dim=10, kappa=10)`` with a learning rate so
small (1e-5) that the gradient stays nearly constant: the size of the first ten
updates with and without the correction for six (ρ₁, ρ₂) pairs (two populations:
the switch is shared within one), their ratio against the formula; that the
corrected rule follows ``ok.Adam`` (same iterates to rounding over 200 steps on
Rosenbrock); and the loss on Rosenbrock with and without the correction.

On Rosenbrock (the right panel) the uncorrected run's larger early steps happen to
help: the correction fixes the size of the first updates; it does not promise a
lower loss, and the script reports whichever is lower.

Holds when every corrected first update is lr per coordinate (to 1e-6), the measured
ratios of the first ten updates agree with the formula to 1 %, the ratio exceeds 2
within the first ten steps for the default ρ's (the correction matters), and the
script's corrected rule agrees with ``ok.Adam`` to 1e-10 (relative).

    python examples/adam_bias_correction.py [--quick] [--backend numba] [--seed 0] [--out DIR]
"""

from __future__ import annotations

from typing import Any

import _harness
import numpy as np

import optkit as ok
from optkit.rules.math import sqrt

BETAS = [
    (0.9, 0.999),
    (0.9, 0.99),
    (0.9, 0.9999),
    (0.5, 0.999),
    (0.99, 0.999),
    (0.0, 0.999),
]
LR = 1e-5


@ok.rule(state=("s", "r"))
def textbook_adam(p, g, s, r, *, lr, rho1, rho2, delta, c1, c2):
    """Algorithm 8.7: s ← ρ₁s + (1 − ρ₁)g, r ← ρ₂r + (1 − ρ₂)g², θ ← θ − ε ŝ/(√r̂ + δ)."""
    s = rho1 * s + (1 - rho1) * g
    r = rho2 * r + (1 - rho2) * g * g
    return p - lr * (s / c1) / (sqrt(r / c2) + delta), s, r


def _in_unit_interval(name: str, value: Any) -> None:
    values = np.asarray(value, dtype=np.float64)
    if not np.all((values >= 0) & (values < 1)):
        raise ValueError(f"invalid {name}={value!r}: must be in [0, 1)")


class TextbookAdam(ok.Optimizer):
    """:func:`textbook_adam` with the host computing c₁ = 1 − ρ₁ᵗ, c₂ = 1 − ρ₂ᵗ."""

    checks = {"rho1": _in_unit_interval, "rho2": _in_unit_interval}

    def __init__(self, params, lr=1e-3, rho1=0.9, rho2=0.999, delta=1e-8,
                 bias_correction=True, *, backend=None, nonfinite="raise"):  # fmt: skip
        hypers = dict(lr=lr, rho1=rho1, rho2=rho2, delta=delta,
                      bias_correction=bias_correction)  # fmt: skip
        super().__init__(params, hypers, backend=backend, nonfinite=nonfinite)

    def rule_for(self, values):
        return textbook_adam

    def host_hypers(self, values, t, group_state):
        rho1, rho2 = values["rho1"], values["rho2"]
        on = values["bias_correction"]
        return dict(
            lr=values["lr"], rho1=rho1, rho2=rho2, delta=values["delta"],
            c1=1 - rho1**t if on else 1.0, c2=1 - rho2**t if on else 1.0,
        )  # fmt: skip


def ratio_formula(rho1, rho2, t):
    """Uncorrected / corrected update for a constant gradient."""
    return (1 - np.power(rho1, t)) / np.sqrt(1 - np.power(rho2, t))


def update_sizes(args, steps: int) -> dict:
    """‖Δθ‖ per step with and without the correction, one population per switch."""
    q = ok.problems.quadratic(dim=10, kappa=10.0, rotate=False)
    rho1, rho2 = (list(b) for b in zip(*BETAS))
    sizes = {}
    for on in (True, False):
        trace = ok.lab.run(q, TextbookAdam, steps, lr=LR, rho1=rho1, rho2=rho2,
                           bias_correction=on, record=("step_norm", "loss"),
                           backend=args.backend)  # fmt: skip
        sizes[on] = trace["step_norm"][1:]  # (steps, runs): ‖θ_t − θ_{t−1}‖
    t = np.arange(1, steps + 1)[:, None]
    formula = ratio_formula(np.array(rho1), np.array(rho2), t)
    return dict(t=t[:, 0], on=sizes[True], off=sizes[False], formula=formula, dim=q.dim)


def agreement_with_adam(args, steps: int = 200) -> float:
    """Largest relative difference of the iterates: script rule vs ``ok.Adam``."""
    p = ok.problems.rosenbrock()
    mine = ok.lab.run(
        p, TextbookAdam, steps, lr=[1e-2], record=("x",), backend=args.backend
    )
    theirs = ok.lab.run(p, "adam", steps, lr=[1e-2], record=("x",), backend=args.backend)
    a, b = mine["x"][:, 0], theirs["x"][:, 0]
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def rosenbrock_curves(args, steps: int) -> dict:
    p = ok.problems.rosenbrock()
    return {
        on: ok.lab.run(p, TextbookAdam, steps, lr=[2e-2], bias_correction=on,
                       record=("loss",), backend=args.backend)
        for on in (True, False)
    }  # fmt: skip


def plot(args, sizes: dict, curves: dict) -> str | None:
    plt = _harness.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    t, unit = sizes["t"], LR * np.sqrt(sizes["dim"])
    ax = axes[0]
    ax.plot(t, sizes["on"][:, 0] / unit, "o-", color="C0", ms=3, label="with correction")
    ax.plot(t, sizes["off"][:, 0] / unit, "s-", color="C3", ms=3, label="without")
    ax.plot(t, sizes["formula"][:, 0], "k:", lw=1, label="(1−ρ₁ᵗ)/√(1−ρ₂ᵗ)")
    ax.set(xlabel="step t", ylabel="‖Δθ‖ / (lr·√dim)", title="ρ₁ = 0.9, ρ₂ = 0.999")
    ax.legend(fontsize=7)
    ax = axes[1]
    colors = plt.get_cmap("tab10")(np.arange(len(BETAS)))
    ratio = sizes["off"] / sizes["on"]
    long_t = np.geomspace(1, 1e5, 200)
    for k, (b1, b2) in enumerate(BETAS):
        ax.loglog(t, ratio[:, k], "o", color=colors[k], ms=3)
        ax.loglog(long_t, ratio_formula(b1, b2, long_t), "-", color=colors[k], lw=0.8,
                  label=f"ρ₁={b1:g}, ρ₂={b2:g}")  # fmt: skip
    ax.axhline(1, color="k", lw=0.5)
    ax.set(xlabel="step t", ylabel="uncorrected / corrected update",
           title="dots: measured; lines: formula")  # fmt: skip
    ax.legend(fontsize=6)
    ax = axes[2]
    for on, color in ((True, "C0"), (False, "C3")):
        tr = curves[on]
        ax.semilogy(tr.steps, tr["loss"][:, 0], color=color, lw=1.1,
                    label="with correction" if on else "without")  # fmt: skip
    ax.set(xlabel="step", ylabel="f", title="Rosenbrock, lr 0.02, default ρ's")
    ax.legend(fontsize=7)
    fig.suptitle(
        "Adam's bias correction (Goodfellow et al. 2016, §8.5.3)", fontsize=10, y=1.03
    )
    return _harness.save_figure(fig, args.out, "adam_bias_correction.png")


def main(argv=None) -> dict:
    args = _harness.parser(__doc__.splitlines()[0]).parse_args(argv)
    sizes = update_sizes(args, 10 if args.quick else 50)
    unit = LR * np.sqrt(sizes["dim"])
    first_ok = float(np.max(np.abs(sizes["on"][0] / unit - 1)))
    ratio = sizes["off"][:10] / sizes["on"][:10]
    ratio_err = float(np.max(np.abs(ratio / sizes["formula"][:10] - 1)))
    peak_default = float(ratio[:, 0].max())
    drift = agreement_with_adam(args)
    curves = rosenbrock_curves(args, 300 if args.quick else 1500)
    print(f"quadratic(dim=10, kappa=10), lr {LR:g}: update ‖Δθ‖ / (lr·√dim), steps 1–10")
    rows = [(f"({b1:g}, {b2:g})", *(float(v) for v in ratio[[0, 4, 9], k]),
             float(sizes["formula"][9, k])) for k, (b1, b2) in enumerate(BETAS)]  # fmt: skip
    print(_harness.table(["(ρ₁, ρ₂)", "ratio t=1", "t=5", "t=10", "formula t=10"], rows))
    print(f"corrected first update / lr·√dim − 1: {first_ok:.1e}; measured vs formula: "
          f"{ratio_err:.1e}; script rule vs ok.Adam: {drift:.1e}")  # fmt: skip
    final = {on: float(curves[on]["loss"][-1, 0]) for on in (True, False)}
    print(f"Rosenbrock after {int(curves[True].steps[-1])} steps: loss {final[True]:.3g} "
          f"with the correction, {final[False]:.3g} without")  # fmt: skip
    holds = first_ok <= 1e-6 and ratio_err <= 0.01 and peak_default > 2 and drift <= 1e-10
    figure = plot(args, sizes, curves)
    return _harness.finish(
        holds,
        f"uncorrected/corrected update up to {peak_default:.3g}x in the first 10 steps "
        f"(ρ 0.9/0.999), formula error {ratio_err:.1e}, first corrected step = lr to "
        f"{first_ok:.0e}, rule vs ok.Adam {drift:.0e}",
        "ratio (1−ρ₁ᵗ)/√(1−ρ₂ᵗ) within 1% and > 2, first step = lr, rule = ok.Adam",
        figure,
        peak_ratio=peak_default,
        ratio_err=ratio_err,
        first_step_err=first_ok,
        adam_drift=drift,
        final_loss_with=final[True],
        final_loss_without=final[False],
    )


if __name__ == "__main__":
    main()
