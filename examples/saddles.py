"""Saddle points: gradient descent slows down near them; momentum and noise help escape.

Claim (Goodfellow, Bengio & Courville (2016), *Deep Learning*, §8.2.3): near a
saddle point the gradient is small, so gradient descent slows down there; it is
repelled along the directions of negative curvature, but starting closer takes
longer. Near a strict saddle with curvature −|λ|, the component along the escape
direction grows by 1 + α|λ| per step, so leaving from distance ε takes about

    log(1/ε) / log(1 + α|λ|)

steps; the heavy ball multiplies it by the larger root r of z² − (1 + μ + α|λ|)z + μ
per step (fewer steps), and gradient noise moves a run that starts exactly at the
saddle, where the gradient is zero and plain gradient descent never moves.

Measured with the lab on ``saddle()``: f = ½x² − ½y² + ¼(x⁴ + y⁴), a strict saddle
at 0 (index 1), minima at y = ±1. A population of starts (1, ε), ε = 1e-12 … 1e-2,
for gradient descent (α = 0.1) and for the heavy ball (α = 0.1, μ = 0.9); a run has
escaped when |y| ≥ 0.5. The fitted slope of escape steps against log(1/ε) is
compared with 1/log(1 + α) and 1/log r. Then runs from exactly the saddle with
gradient noise σ = 1e-8 … 1e-2 (ten seeds each, ``stochastic=True``) and without
noise; and ``diagnostics.negative_curvature`` along one path: the index is 1 while
|y| < 1/√3 (where −1 + 3y² < 0) and 0 afterwards.

Holds when the fitted slope for gradient descent is within 5 % of 1/log(1 + α), the
heavy ball escapes in fewer steps from every start, every noisy run escapes from the
exact saddle while the noise-free run stays there, and the index along the path
drops from 1 to 0 where |y| crosses 1/√3.

    python examples/saddles.py [--quick] [--backend numba] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import _harness
import numpy as np

import optkit as ok

LR, MOMENTUM, ESCAPED = 0.1, 0.9, 0.5
NOISES = (1e-8, 1e-6, 1e-4, 1e-2)


def escape_steps(trace) -> np.ndarray:
    """First recorded step with |y| ≥ ESCAPED, per run (-1: never)."""
    out = np.abs(trace["x"][:, :, 1]) >= ESCAPED
    first = np.argmax(out, axis=0)
    return np.where(out.any(axis=0), trace.steps[first], -1)


def heavy_ball_root(lr: float, momentum: float, curvature: float = 1.0) -> float:
    """The larger root of z² − (1 + μ + α|λ|) z + μ: growth per step along −|λ|."""
    b = 1 + momentum + lr * curvature
    return (b + np.sqrt(b * b - 4 * momentum)) / 2


def from_near(args, eps: np.ndarray, steps: int) -> dict:
    s = ok.problems.saddle()
    x0 = np.stack([np.ones_like(eps), eps], axis=1)
    common = dict(x0=x0, record=("loss", "x"), backend=args.backend)
    gd = ok.lab.run(s, "sgd", steps, lr=LR, **common)
    hb = ok.lab.run(s, "heavy_ball", steps, lr=LR, momentum=MOMENTUM, **common)
    return dict(
        problem=s, gd=gd, hb=hb, gd_steps=escape_steps(gd), hb_steps=escape_steps(hb)
    )


def from_saddle(args, steps: int, seeds: int) -> dict:
    """Runs started exactly at the saddle: with noise (ten seeds per σ) and without."""
    out = {}
    for sigma in (0.0, *NOISES):
        s = ok.problems.saddle(noise=sigma)
        trace = ok.lab.run(
            s, "sgd", steps, x0=s.saddle_point, lr=LR, stochastic=sigma > 0,
            seed=[args.seed + k for k in range(seeds)], record=("x",), backend=args.backend,
        )  # fmt: skip
        out[sigma] = escape_steps(trace)
    return out


def index_along_path(problem, trace, run: int) -> dict:
    from optkit import diagnostics

    path = trace["x"][:, run]
    index = diagnostics.negative_curvature(problem, path).index
    leaves = int(np.argmax(index == 0)) if (index == 0).any() else -1
    crosses = int(np.argmax(np.abs(path[:, 1]) >= 1 / np.sqrt(3)))
    return dict(
        index=index, y=path[:, 1], leaves=leaves, crosses=crosses, steps=trace.steps
    )


def plot(args, near: dict, eps, fits: dict, noisy: dict, path: dict) -> str | None:
    plt = _harness.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ax = axes[0]
    logs = np.log(1 / eps)
    for key, color, name in (("gd", "C0", "gradient descent"), ("hb", "C3", "heavy ball")):
        ax.plot(logs, near[f"{key}_steps"], "o", color=color,
                label=f"{name}: slope {fits[key][0]:.2f} (formula {fits[key][1]:.2f})")  # fmt: skip
        ax.plot(logs, fits[key][2] + fits[key][1] * logs, "-", color=color, lw=0.8)
    ax.set(xlabel="log(1/ε)", ylabel=f"steps to |y| ≥ {ESCAPED}",
           title="start (1, ε); lines: formula slope")  # fmt: skip
    ax.legend(fontsize=7)
    ax = axes[1]
    sigmas = np.array(NOISES)
    mean = np.array([noisy[s][noisy[s] > 0].mean() if (noisy[s] > 0).any() else np.nan
                     for s in NOISES])  # fmt: skip
    ax.semilogx(sigmas, mean, "o-", color="C2", label="mean over seeds")
    ax.semilogx(sigmas, np.log(ESCAPED / sigmas) / np.log(1 + LR), "k:", lw=0.8,
                label="log(0.5/σ) / log(1+α)")  # fmt: skip
    stuck = "never" if (noisy[0.0] < 0).all() else "escapes?"
    ax.set(xlabel="gradient noise σ", ylabel="escape steps",
           title=f"start exactly at the saddle (σ = 0: {stuck})")  # fmt: skip
    ax.legend(fontsize=7)
    ax = axes[2]
    ax.plot(path["steps"], np.abs(path["y"]), color="C0", lw=1.2, label="|y| (GD)")
    ax.plot(path["steps"], path["index"], "k-", lw=1, drawstyle="steps-post",
            label="index (negative_curvature)")  # fmt: skip
    ax.axhline(1 / np.sqrt(3), color="C1", ls=":", lw=0.8, label="|y| = 1/√3")
    ax.set(xlabel="step", title="the saddle index along a path (ε = 1e-6)",
           xlim=(0, 2 * max(path["leaves"], 1)))  # fmt: skip
    ax.legend(fontsize=7)
    fig.suptitle("Saddle points (Goodfellow et al. 2016, §8.2.3)", fontsize=10, y=1.03)
    return _harness.save_figure(fig, args.out, "saddles.png")


def main(argv=None) -> dict:
    args = _harness.parser(__doc__.splitlines()[0]).parse_args(argv)
    eps = np.geomspace(1e-12, 1e-2, 6 if args.quick else 11)
    steps = 400
    near = from_near(args, eps, steps)
    logs = np.log(1 / eps)
    fits = {}
    for key, rate in (("gd", 1 + LR), ("hb", heavy_ball_root(LR, MOMENTUM))):
        slope, intercept = _harness.fit_line(logs, near[f"{key}_steps"])
        fits[key] = (slope, 1 / np.log(rate), intercept)
    noisy = from_saddle(args, steps, 4 if args.quick else 10)
    run = int(np.argmin(np.abs(eps - 1e-6)))
    path = index_along_path(near["problem"], near["gd"], run)
    print(_harness.table(
        ["ε", "GD steps", "heavy-ball steps"],
        [(float(e), int(g), int(h)) for e, g, h in zip(eps, near["gd_steps"], near["hb_steps"])],
    ))  # fmt: skip
    print(_harness.table(
        ["σ (from the saddle)", "escaped", "mean steps"],
        [(s, f"{int((v > 0).sum())}/{v.size}",
          float(v[v > 0].mean()) if (v > 0).any() else "-") for s, v in noisy.items()],
    ))  # fmt: skip
    print(f"index along the GD path from ε = {eps[run]:.0e}: {int(path['index'][0])} at the "
          f"start, 0 from step {path['leaves']} (|y| ≥ 1/√3 from step {path['crosses']})")  # fmt: skip
    gd_err = abs(fits["gd"][0] / fits["gd"][1] - 1)
    reached = (near["gd_steps"] > 0) & (near["hb_steps"] > 0)
    checks = {
        "GD slope within 5%": gd_err <= 0.05,
        "heavy ball faster": bool(
            reached.all() and np.all(near["hb_steps"] < near["gd_steps"])
        ),
        "noise escapes": all(bool((noisy[s] > 0).all()) for s in NOISES),
        "no noise stays": bool((noisy[0.0] < 0).all()),
        "index 1 → 0 at 1/√3": int(path["index"][0]) == 1
        and path["leaves"] == path["crosses"],
    }
    failed = [name for name, ok_ in checks.items() if not ok_]
    figure = plot(args, near, eps, fits, noisy, path)
    return _harness.finish(
        not failed,
        f"GD escape slope {fits['gd'][0]:.2f} vs 1/log(1+α) = {fits['gd'][1]:.2f} "
        f"({gd_err:.1%}); heavy ball slope {fits['hb'][0]:.2f} (1/log r = "
        f"{fits['hb'][1]:.2f}); noisy runs escaped from the saddle, noise-free stayed"
        + (f"; fails: {', '.join(failed)}" if failed else ""),
        "GD slope within 5%, heavy ball faster, noise escapes, index 1 → 0",
        figure,
        gd_slope=fits["gd"][0],
        gd_formula=fits["gd"][1],
        hb_slope=fits["hb"][0],
        hb_formula=fits["hb"][1],
        gd_steps=near["gd_steps"].tolist(),
        hb_steps=near["hb_steps"].tolist(),
        failed=failed,
    )


if __name__ == "__main__":
    main()
