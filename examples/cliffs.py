"""Cliffs: one gradient step on a cliff throws the parameters far away; clipping prevents it.

Claim (Goodfellow, Bengio & Courville (2016), *Deep Learning*, §8.2.4, after Pascanu
et al. (2013)): very steep regions ("cliffs") give gradients so large that one
step can jump far away, undoing much of the work done; clipping the gradient —
element-wise to [−c, c] (the rule as the book states it) or rescaling it to norm ≤ c
— bounds the step and keeps the descent on course.

Measured with the lab on ``cliff()``: a valley ½(x² + y²) behind a plateau raised by
h = 10 whose wall falls over 0.19 units (steepest slope h/w = 100). A population of
random starts on the plateau (x ∈ [−4, −1.4], y ∈ [−2, 2]), plain gradient descent
with α = 0.1, without clipping, with value clipping and with norm clipping at
c = 0.5 (three populations, same starts): the largest step ‖Δθ‖ of every run
(``record=("step_norm",)``) and the final loss. Without clipping the largest step
is at most α·(h/w + 4) ≈ 10.4; with clipping at most α·c·√2 (value) or α·c (norm).

Holds when clipping cuts the largest step of the population ≥ 100× (both kinds) and
every clipped run ends on the valley floor (f − f* ≤ 1e-6).

In this convex valley a thrown run comes back (the median unclipped run even
reaches the floor first: clipping also slows the walk across the plateau); the
damage of the cliff is the jump itself — about 9 units past the minimum — which on
a non-convex landscape can land in another basin, or overflow.

    python examples/cliffs.py [--quick] [--backend numba] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import _harness
import numpy as np

import optkit as ok

LR, CLIP, STEPS = 0.1, 0.5, 300
KINDS = {"none": None, "value": ("value", CLIP), "norm": ("norm", CLIP)}


def starts(seed: int, runs: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.uniform(-4.0, -1.4, runs), rng.uniform(-2.0, 2.0, runs)], axis=1)


def run_all(args, runs: int) -> dict:
    c = ok.problems.cliff()
    x0 = starts(args.seed, runs)
    traces = {
        kind: ok.lab.run(c, "sgd", STEPS, x0=x0, lr=LR, clip=clip,
                         record=("loss", "step_norm", "x"), backend=args.backend)
        for kind, clip in KINDS.items()
    }  # fmt: skip
    return dict(problem=c, traces=traces)


def plot(args, res: dict, jumps: dict) -> str | None:
    plt = _harness.pyplot()
    if plt is None:
        return None
    c, traces = res["problem"], res["traces"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    ax = axes[0]
    run = int(np.argmax(traces["none"]["step_norm"][1:].max(axis=0)))
    for (kind, trace), color in zip(traces.items(), ("C3", "C0", "C2")):
        ax.plot(
            trace.steps, trace["x"][:, run, 0], color=color, lw=1.1, label=f"clip: {kind}"
        )
    ax.set(xlabel="step", ylabel="x", title="one start (the largest jump)", xlim=(0, 120))
    ax.legend(fontsize=7)
    inset = ax.inset_axes([0.55, 0.12, 0.42, 0.35])
    xs = np.linspace(-4, 2, 400)
    inset.plot(xs, c.value(np.stack([xs, np.zeros_like(xs)], axis=1)), "k-", lw=0.8)
    inset.set_title("f(x, 0)", fontsize=7)
    inset.tick_params(labelsize=6)
    ax = axes[1]
    bins = np.geomspace(1e-3, 30, 50)
    for (kind, trace), color in zip(traces.items(), ("C3", "C0", "C2")):
        ax.hist(trace["step_norm"][1:].max(axis=0), bins=bins, color=color, alpha=0.7,
                label=f"{kind}: max {jumps[kind]:.3g}")  # fmt: skip
    ax.set_xscale("log")
    ax.set(xlabel="largest step ‖Δθ‖ of a run", ylabel="runs",
           title=f"{traces['none'].runs} starts, α = {LR}, c = {CLIP}")  # fmt: skip
    ax.legend(fontsize=7)
    ax = axes[2]
    for (kind, trace), color in zip(traces.items(), ("C3", "C0", "C2")):
        ax.semilogy(trace.steps, np.median(trace.excess(), axis=1), color=color, lw=1.1,
                    label=f"{kind} (median)")  # fmt: skip
        ax.semilogy(trace.steps, trace.excess().max(axis=1), ":", color=color, lw=0.8)
    ax.set(
        xlabel="step", ylabel="f − f*", title="loss (dotted: worst run)", ylim=(1e-16, 1e3)
    )
    ax.legend(fontsize=7)
    fig.suptitle(
        "Cliffs and gradient clipping (Goodfellow et al. 2016, §8.2.4)", fontsize=10, y=1.03
    )
    return _harness.save_figure(fig, args.out, "cliffs.png")


def main(argv=None) -> dict:
    args = _harness.parser(__doc__.splitlines()[0]).parse_args(argv)
    res = run_all(args, 50 if args.quick else 500)
    traces = res["traces"]
    jumps = {k: float(t["step_norm"][1:].max()) for k, t in traces.items()}
    worst = {k: float(t.excess()[-1].max()) for k, t in traces.items()}
    cut = {k: jumps["none"] / jumps[k] for k in ("value", "norm")}
    print(
        f"{traces['none'].runs} starts on the plateau, {STEPS} steps, α = {LR}, c = {CLIP}"
    )
    median_steps = {k: float(np.median(t.steps_to(1e-6))) for k, t in traces.items()}
    bounds = {"none": LR * (100 + 4), "value": LR * CLIP * np.sqrt(2), "norm": LR * CLIP}
    print(_harness.table(
        ["clipping", "largest step", "bound", "cut", "worst final f − f*",
         "median steps to 1e-6"],
        [(k, jumps[k], bounds[k], "" if k == "none" else cut[k], worst[k], median_steps[k])
         for k in KINDS],
    ))  # fmt: skip
    floor = max(worst["value"], worst["norm"])
    holds = min(cut.values()) >= 100 and floor <= 1e-6
    figure = plot(args, res, jumps)
    return _harness.finish(
        holds,
        f"largest step cut {cut['value']:.0f}x (value) and {cut['norm']:.0f}x (norm), "
        f"worst clipped final f − f* {floor:.1e}",
        "≥ 100x and ≤ 1e-6",
        figure,
        jumps=jumps,
        cut_value=cut["value"],
        cut_norm=cut["norm"],
        worst_final=worst,
    )


if __name__ == "__main__":
    main()
