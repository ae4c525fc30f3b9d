"""Exploding and vanishing gradients: through N tied layers signals scale like λᴺ.

Claim (Goodfellow, Bengio & Courville (2016), *Deep Learning*, §8.2.5): repeated
multiplication by the same matrix W = V diag(λ) V⁻¹ gives Wᴺ = V diag(λ)ᴺ V⁻¹, so
along the eigenvalues with |λ| > 1 the forward signal and the gradient explode and
along |λ| < 1 they vanish (recurrent networks, very deep networks). Remedies:
gradient clipping (§10.11.1) and an orthogonal initialization (Saxe et al., 2014),
which keeps every norm at 1.

Measured with the lab's ``deep_linear`` (½‖Wᴺu − u‖² for a unit input u, tied
layers, width 4) with W a Gaussian matrix scaled to spectral radius ρ ∈ {0.9, 1.0,
1.1} and N = 100:

* the forward norms ‖Wʲu‖ (``forward_norms``) and the gradient reaching depth j
  from the output, ‖(Wᵀ)^{N−j} δ_N‖ (``backward_norms``): fitted slopes of their log
  against the number of layers (from 20 on, past the transient of the smaller
  eigenvalues) compared with log ρ;
* the norm of the whole gradient at the start for depths N = 2 … 100;
* training: a population of twelve learning rates (1e-12 … 0.1) of plain gradient
  descent per start, for ρ = 1.1 without and with clipping by norm (c = 1), ρ = 0.9,
  and the orthogonal start with ρ = 1; the best final loss of each population.

Holds when every fitted slope equals log ρ within 2 % (for ρ = 1, |slope| ≤ 2 % of
log 1.1), clipping lets the ρ = 1.1 chain train below the best unclipped loss, and
the orthogonal ρ = 1 start reaches f ≤ 1e-6.

    python examples/exploding_vanishing.py [--quick] [--backend numba] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import _harness
import numpy as np

import optkit as ok

DEPTH, WIDTH, SKIP = 100, 4, 20
RADII = (0.9, 1.0, 1.1)
RATES = np.geomspace(1e-12, 1e-1, 12)


def chain(depth: int, rho: float, seed: int, init: str = "gaussian"):
    return ok.problems.deep_linear(depth=depth, width=WIDTH, spectral_radius=rho,
                                   init=init, seed=seed)  # fmt: skip


def slopes(seed: int) -> dict:
    """Fitted growth per layer of the forward signal and of the backward gradient."""
    out = {}
    layers = np.arange(DEPTH + 1)
    for rho in RADII:
        p = chain(DEPTH, rho, seed)
        forward, backward = p.forward_norms(p.x0), p.backward_norms(p.x0)
        depth_from_output = DEPTH - layers
        fwd = _harness.fit_line(layers[SKIP:], np.log(forward[SKIP:]))[0]
        keep = depth_from_output >= SKIP
        bwd = _harness.fit_line(depth_from_output[keep], np.log(backward[keep]))[0]
        out[rho] = dict(forward=forward, backward=backward, fwd=fwd, bwd=bwd)
    return out


def within(slope: float, rho: float) -> float:
    """Relative error of a slope against log ρ (against log 1.1 for ρ = 1)."""
    scale = abs(np.log(rho)) if rho != 1.0 else np.log(1.1)
    return abs(slope - np.log(rho)) / scale


def gradient_vs_depth(seed: int) -> dict:
    depths = np.unique(np.geomspace(2, DEPTH, 14).astype(int))
    return dict(depths=depths, norms={
        rho: np.array([float(np.linalg.norm(chain(n, rho, seed).grad(chain(n, rho, seed).x0)))
                       for n in depths]) for rho in RADII})  # fmt: skip


def training(args, steps: int) -> dict:
    cases = {
        "ρ=1.1": (1.1, "gaussian", None),
        "ρ=1.1, clipped": (1.1, "gaussian", ("norm", 1.0)),
        "ρ=0.9": (0.9, "gaussian", None),
        "ρ=1, orthogonal": (1.0, "orthogonal", None),
    }
    out = {}
    for label, (rho, init, clip) in cases.items():
        p = chain(DEPTH, rho, args.seed, init)
        trace = ok.lab.run(p, "sgd", steps, lr=RATES, clip=clip, record=("loss",),
                           every=max(steps // 100, 1), backend=args.backend)  # fmt: skip
        final = np.where(np.isfinite(trace.final()), trace.final(), np.inf)
        best = int(np.argmin(final))
        out[label] = dict(trace=trace.select(best), best=float(final[best]),
                          lr=float(RATES[best]), diverged=int((trace.diverged >= 0).sum()))  # fmt: skip
    return out


def plot(args, sl: dict, grads: dict, train: dict) -> str | None:
    plt = _harness.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    layers = np.arange(DEPTH + 1)
    ax = axes[0]
    for rho, color in zip(RADII, ("C0", "C2", "C3")):
        ax.semilogy(layers, sl[rho]["forward"], color=color, lw=1.2,
                    label=f"ρ={rho}: forward, slope {sl[rho]['fwd']:.4f}")  # fmt: skip
        ax.semilogy(layers, sl[rho]["backward"][::-1], "--", color=color, lw=1,
                    label=f"backward, slope {sl[rho]['bwd']:.4f}")  # fmt: skip
        ax.semilogy(layers, sl[rho]["forward"][SKIP] * rho ** (layers - SKIP), ":", color="k",
                    lw=0.6)  # fmt: skip
    ax.set(xlabel="layers passed", ylabel="‖Wʲu‖ (solid), ‖(Wᵀ)ʲδ‖ (dashed)",
           title=f"N = {DEPTH}; dotted: ρʲ (log ρ = 0.0953, 0, −0.1054)")  # fmt: skip
    ax.legend(fontsize=6)
    ax = axes[1]
    for rho, color in zip(RADII, ("C0", "C2", "C3")):
        ax.semilogy(grads["depths"], grads["norms"][rho], "o-", color=color, ms=3,
                    label=f"ρ = {rho}")  # fmt: skip
    ax.set(xlabel="depth N", ylabel="‖∇f‖ at the start", title="the gradient vs depth")
    ax.legend(fontsize=7)
    ax = axes[2]
    for label, r in train.items():
        t = r["trace"]
        ax.semilogy(
            t.steps, t["loss"][:, 0], lw=1.1, label=f"{label}: best lr {r['lr']:.0e}"
        )
    ax.set(xlabel="step", ylabel="f (best of 12 learning rates)", title="training, N = 100")
    ax.legend(fontsize=7)
    fig.suptitle("Exploding and vanishing gradients (Goodfellow et al. 2016, §8.2.5)",
                 fontsize=10, y=1.03)  # fmt: skip
    return _harness.save_figure(fig, args.out, "exploding_vanishing.png")


def main(argv=None) -> dict:
    args = _harness.parser(__doc__.splitlines()[0]).parse_args(argv)
    sl = slopes(args.seed)
    grads = gradient_vs_depth(args.seed)
    train = training(args, 300 if args.quick else 1000)
    print(_harness.table(
        ["ρ", "log ρ", "forward slope", "backward slope", "‖∇f‖ at N=100"],
        [(rho, float(np.log(rho)), sl[rho]["fwd"], sl[rho]["bwd"],
          float(grads["norms"][rho][-1])) for rho in RADII],
    ))  # fmt: skip
    print(_harness.table(
        ["training (N=100)", "best final f", "its lr", "diverged runs"],
        [(label, r["best"], r["lr"], f"{r['diverged']}/{len(RATES)}")
         for label, r in train.items()],
    ))  # fmt: skip
    worst = max(within(sl[rho][k], rho) for rho in RADII for k in ("fwd", "bwd"))
    clip_helps = train["ρ=1.1, clipped"]["best"] < train["ρ=1.1"]["best"]
    orthogonal = train["ρ=1, orthogonal"]["best"] <= 1e-6
    holds = worst <= 0.02 and clip_helps and orthogonal
    figure = plot(args, sl, grads, train)
    return _harness.finish(
        holds,
        f"slopes within {worst:.2%} of log ρ; best loss ρ=1.1 {train['ρ=1.1']['best']:.2g} "
        f"plain vs {train['ρ=1.1, clipped']['best']:.2g} clipped; orthogonal ρ=1 "
        f"{train['ρ=1, orthogonal']['best']:.1e}",
        "within 2%, clipped < plain, orthogonal ≤ 1e-6",
        figure,
        slope_error=worst,
        slopes={rho: (sl[rho]["fwd"], sl[rho]["bwd"]) for rho in RADII},
        best_loss={label: r["best"] for label, r in train.items()},
    )


if __name__ == "__main__":
    main()
