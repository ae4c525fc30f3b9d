"""Adaptive learning rates: delta-bar-delta needs axis-aligned curvature; AdaGrad's rate decays.

Claims (Goodfellow, Bengio & Courville (2016), *Deep Learning*, §8.5):

1. A learning rate per parameter helps when the directions of sensitivity are
   axis-aligned; delta-bar-delta (Jacobs, 1988) adapts one rate per weight from the
   signs of successive gradients.
2. AdaGrad divides by the root of *all* past squared gradients, so its effective
   rate keeps falling — for training deep models the accumulation from the
   beginning can decrease it prematurely and excessively; RMSProp's exponentially
   weighted average forgets the distant past and keeps learning.

Measured with the lab:

1. ``quadratic(dim=10, kappa=100)`` axis-aligned (``rotate=False``) and rotated:
   steps to f − f* ≤ 1e-6 of the best plain gradient descent (a population of eight
   learning rates) and of the best delta-bar-delta (a population of 33 settings of
   its increment κ and decrease φ, initial rate 1/λ_max); the gain is their ratio.
2. Noisy Rosenbrock (``rosenbrock(noise=10)``, non-convex, a long curved valley;
   the noise keeps the gradients from vanishing, so the accumulator grows like t) over
   a long run: AdaGrad's effective rate, the mean over coordinates of α/(√r + δ)
   read from the optimizer's accumulator r, and its fitted slope against log t over
   the second half of 20,000 steps; the final loss (mean of the last tenth of the
   records and three seeds, after 20,000 steps; ``--quick``: 5,000) of AdaGrad and
   RMSProp, each at the best learning rate of a population sweep, and their ratio.

The last part does not hold here: AdaGrad's rate does fall like 1/√t, but at its
best learning rate AdaGrad ends *below* RMSProp (a larger α compensates for the
decay, and RMSProp without a schedule keeps a noise floor). The premature decay
shows at a fixed α (the right panel: small rates stall), not between tuned methods
on this problem; the book's observation concerns deep networks.

Holds when delta-bar-delta gains ≥ 5× axis-aligned and < 5× rotated, the effective
rate's slope is in [−0.6, −0.4] (∝ 1/√t) and AdaGrad's best final loss is ≥ 3× above
RMSProp's. Each method gets its best learning rate from the same kind of sweep: a
comparison at one shared rate would measure the rate, not the method.

    python examples/adaptive.py [--quick] [--backend numba] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import _harness
import numpy as np

import optkit as ok

TOL = 1e-6
NOISE = 10.0
SEEDS = 3


def first(steps: np.ndarray) -> tuple[int, int]:
    """(index, steps) of the fastest run that reached the tolerance; (-1, -1) if none."""
    reached = steps > 0
    if not reached.any():
        return -1, -1
    i = int(np.argmin(np.where(reached, steps, np.iinfo(np.int64).max)))
    return i, int(steps[i])


def orientation(args, rotate: bool, steps: int) -> dict:
    """Best gradient descent vs best delta-bar-delta on one quadratic."""
    q = ok.problems.quadratic(dim=10, kappa=100.0, rotate=rotate, seed=args.seed)
    common = dict(record=("loss",), every=5, backend=args.backend)
    rates = np.geomspace(0.1, 2.0, 8) / q.eigenvalues[-1]
    sgd = ok.lab.run(q, "sgd", steps, lr=rates, **common)
    increments = np.repeat(np.geomspace(1e-5, 1.0, 11), 3)
    decreases = np.tile([0.1, 0.3, 0.5], 11)
    dbd = ok.lab.run(q, "delta_bar_delta", steps, lr=1.0 / q.eigenvalues[-1],
                     kappa=increments, phi=decreases, theta=0.7, **common)  # fmt: skip
    i, sgd_steps = first(sgd.steps_to(TOL))
    j, dbd_steps = first(dbd.steps_to(TOL))
    gain = sgd_steps / dbd_steps if sgd_steps > 0 and dbd_steps > 0 else float("nan")
    return dict(
        rotate=rotate,
        sgd=sgd.select(i),
        dbd=dbd.select(j),
        sgd_steps=sgd_steps,
        dbd_steps=dbd_steps,
        sgd_lr=float(rates[i]),
        dbd_setting=(float(increments[j]), float(decreases[j])),
        gain=gain,
    )


def sweep_final(args, problem, name: str, rates, steps: int) -> np.ndarray:
    """Final loss (last tenth of the records, mean over seeds) per learning rate."""
    trace = ok.lab.run(
        problem, name, steps, lr=np.repeat(rates, SEEDS),
        seed=[args.seed + k for k in range(len(rates) * SEEDS)], stochastic=True,
        record=("loss",), every=max(steps // 100, 1), backend=args.backend,
    )  # fmt: skip
    tail = trace.excess()[-10:].mean(axis=0)
    return tail.reshape(len(rates), SEEDS).mean(axis=1)


def effective_rate(args, problem, lr: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """AdaGrad's mean α/(√r + δ) over a run, read from the optimizer's accumulator.

    ``lab.run`` records the iterates, not the optimizer's state, so this one run is
    stepped directly (public API: an optimizer, ``sample_grad``, ``state``).
    """
    rng = [np.random.default_rng(args.seed)]
    x = np.array([problem.x0])
    backend = None if args.backend == "auto" else args.backend
    opt = ok.Adagrad(x, lr=lr, backend=backend)
    every = max(steps // 200, 1)
    ts, rates = [], []
    for t in range(1, steps + 1):
        opt.step(problem.sample_grad(x, rng))
        if t % every == 0:
            r = np.asarray(opt.state["param"]["sum_sq"])
            ts.append(t)
            rates.append(float(np.mean(lr / (np.sqrt(r) + opt.defaults["eps"]))))
    return np.array(ts), np.array(rates)


def accumulation(args, steps: int, rate_steps: int) -> dict:
    p = ok.problems.rosenbrock(noise=NOISE)
    ada_rates = np.geomspace(0.01, 3.0, 8)
    rms_rates = np.geomspace(1e-4, 0.1, 8)
    ada = sweep_final(args, p, "adagrad", ada_rates, steps)
    rms = sweep_final(args, p, "rmsprop", rms_rates, steps)
    best_ada = float(ada_rates[np.nanargmin(ada)])
    ts, rates = effective_rate(args, p, best_ada, rate_steps)
    half = ts >= rate_steps // 2
    return dict(
        ada_rates=ada_rates, ada=ada, rms_rates=rms_rates, rms=rms, best_ada_lr=best_ada,
        best_rms_lr=float(rms_rates[np.nanargmin(rms)]), ts=ts, rates=rates,
        slope=_harness.loglog_slope(ts[half], rates[half]),
        ratio=float(np.nanmin(ada) / np.nanmin(rms)),
    )  # fmt: skip


def plot(args, quads: list, acc: dict) -> str | None:
    plt = _harness.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ax = axes[0]
    for r, style in zip(quads, ("-", "--")):
        kind = "rotated" if r["rotate"] else "axis-aligned"
        for key, color, name in (("sgd", "C0", "best GD"), ("dbd", "C3", "best δ-bar-δ")):
            t = r[key]
            ax.semilogy(t.steps, t.excess()[:, 0], style, color=color, lw=1.1,
                        label=f"{name}, {kind}")  # fmt: skip
    ax.axhline(TOL, color="k", lw=0.5)
    ax.set(xlabel="step", ylabel="f − f*", title="quadratic, κ = 100", ylim=(1e-9, 1e4))
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.loglog(acc["ts"], acc["rates"], color="C2", lw=1.2,
              label=f"AdaGrad, lr {acc['best_ada_lr']:.3g} (slope {acc['slope']:.2f})")  # fmt: skip
    ref = acc["rates"][-1] * np.sqrt(acc["ts"][-1] / acc["ts"])
    ax.loglog(acc["ts"], ref, "k:", lw=0.8, label="∝ 1/√t")
    ax.set(
        xlabel="step t", ylabel="mean α/(√r + δ)", title=f"noisy Rosenbrock, σ = {NOISE:g}"
    )
    ax.legend(fontsize=7)
    ax = axes[2]
    ax.loglog(acc["ada_rates"], acc["ada"], "o-", color="C2", label="AdaGrad")
    ax.loglog(acc["rms_rates"], acc["rms"], "s-", color="C4", label="RMSProp")
    ax.set(xlabel="learning rate α", ylabel=f"final loss (mean of {SEEDS} seeds)",
           title=f"best AdaGrad / best RMSProp = {acc['ratio']:.2g}")  # fmt: skip
    ax.legend(fontsize=7)
    fig.suptitle(
        "Adaptive learning rates (Goodfellow et al. 2016, §8.5)", fontsize=10, y=1.03
    )
    return _harness.save_figure(fig, args.out, "adaptive.png")


def main(argv=None) -> dict:
    args = _harness.parser(__doc__.splitlines()[0]).parse_args(argv)
    quads = [orientation(args, rotate, 1500) for rotate in (False, True)]
    acc = accumulation(args, 5000 if args.quick else 20_000, 20_000)
    print(_harness.table(
        ["quadratic κ=100", "best GD steps", "GD lr", "best δ-bar-δ steps", "(κ, φ)", "gain"],
        [("rotated" if r["rotate"] else "axis-aligned", r["sgd_steps"], r["sgd_lr"],
          r["dbd_steps"], str(r["dbd_setting"]), r["gain"]) for r in quads],
    ))  # fmt: skip
    print(_harness.table(
        ["noisy Rosenbrock", "best lr", "final loss"],
        [("AdaGrad", acc["best_ada_lr"], float(np.nanmin(acc["ada"]))),
         ("RMSProp", acc["best_rms_lr"], float(np.nanmin(acc["rms"])))],
    ))  # fmt: skip
    print(f"AdaGrad's effective rate: slope {acc['slope']:.3f} against log t (2nd half)")
    axis, rotated = quads
    checks = {
        "δ-bar-δ axis-aligned ≥ 5x": axis["gain"] >= 5,
        "rotated < 5x": rotated["gain"] < 5,
        "rate ∝ 1/√t": -0.6 <= acc["slope"] <= -0.4,
        "AdaGrad ≥ 3x above RMSProp": acc["ratio"] >= 3,
    }
    failed = [name for name, ok_ in checks.items() if not ok_]
    figure = plot(args, quads, acc)
    return _harness.finish(
        not failed,
        f"delta-bar-delta gain {axis['gain']:.3g}x axis-aligned, {rotated['gain']:.3g}x "
        f"rotated; AdaGrad rate slope {acc['slope']:.2f}; best AdaGrad / best RMSProp "
        f"final loss {acc['ratio']:.2g}"
        + (f"; fails: {', '.join(failed)}" if failed else ""),
        "≥ 5x / < 5x, slope −0.6…−0.4, ratio ≥ 3",
        figure,
        gain_axis=axis["gain"],
        gain_rotated=rotated["gain"],
        rate_slope=acc["slope"],
        adagrad_over_rmsprop=acc["ratio"],
        failed=failed,
    )


if __name__ == "__main__":
    main()
