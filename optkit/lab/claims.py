"""The claims of Goodfellow, Bengio & Courville (2016), *Deep Learning*, ch. 8 that the
example scripts measure: one script in ``examples/`` per claim.

Each script states its claim, measures it with the lab, prints a table and the
verdict line ``claim holds: yes/no (measured ... vs expected ...)`` and saves one
figure; ``python examples/run_all.py --out DIR`` runs them all. ``optkit lab list``
prints this table.

Examples
--------
>>> from optkit.lab.claims import CLAIMS
>>> [c.script for c in CLAIMS][:2]
['ill_conditioning.py', 'momentum.py']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CLAIMS", "DEMOS", "Claim"]


@dataclass(frozen=True)
class Claim:
    """One claim: its script in ``examples/``, the book's section, and what "holds"
    means there."""

    script: str
    section: str
    claim: str
    holds_when: str


CLAIMS: tuple[Claim, ...] = (
    Claim("ill_conditioning.py", "§8.2.1",
          "gradient descent slows on ill-conditioned curvature; a step raises the cost "
          "when ½α²gᵀHg > αgᵀg",
          "predicted vs actual change rel. err ≤ 1e-8; steps ∝ κ (slope 0.9–1.1)"),
    Claim("momentum.py", "§8.3.2",
          "the heavy ball needs ∝ √κ steps where gradient descent needs ∝ κ",
          "slopes 0.4–0.6 and 0.9–1.1; rates within 5% of the closed forms"),
    Claim("nesterov.py", "§8.3.3",
          "Nesterov's method: f − f* like 1/k² instead of 1/k (not with noisy gradients)",
          "slopes −1.7…−2.3 and −0.8…−1.2; noisy advantage reported"),
    Claim("cooling.py", "§8.3.1",
          "a constant rate stalls at a noise floor ∝ α; cooling goes lower",
          "linear decay ≥ 10x below constant α₀; floor slope 0.8–1.2"),
    Claim("adaptive.py", "§8.5",
          "delta-bar-delta needs axis-aligned curvature; AdaGrad's rate decays too early",
          "≥ 5x axis-aligned, < 5x rotated; rate ∝ 1/√t; AdaGrad ≥ 3x above RMSProp"),
    Claim("adam_bias_correction.py", "§8.5.3",
          "Adam's bias correction sets the size of the first updates",
          "uncorrected/corrected = (1−ρ₁ᵗ)/√(1−ρ₂ᵗ) within 1%; a rule written in the script"),
    Claim("saddles.py", "§8.2.3",
          "gradient descent slows near saddles; momentum and noise help escape",
          "escape steps ∝ log(1/ε) (slope within 5%); heavy ball faster; noise escapes"),
    Claim("local_minima.py", "§8.2.2",
          "many local minima, often equally good; the landing depends on optimizer and start",
          "Himmelblau ≥ 99% global over 4 minima; Rastrigin ≥ 10 minima, < 10% global"),
    Claim("cliffs.py", "§8.2.4",
          "one step on a cliff jumps far; clipping (by value or norm) prevents it",
          "largest step cut ≥ 100x; clipped runs reach the valley floor"),
    Claim("exploding_vanishing.py", "§8.2.5",
          "through N tied layers signals and gradients scale like λᴺ",
          "slopes of log‖·‖ vs N equal log λ within 2%; clipping, orthogonal init"),
    Claim("polyak_averaging.py", "§8.7.3",
          "averaging the last N iterates denoises the final estimate",
          "average's excess ≤ last iterate's / (N/10), N = 10, 100, 1000"),
    Claim("rosenbrock_race.py", "§8.3–8.5",
          "every optimizer on one curved valley: plain gradient descent is the slowest",
          "SGD ranks last (median final loss over the starts, each at its best rate)"),
    Claim("batchnorm_deep_net.py", "§8.7.1",
          "Batch Normalization makes a deep sigmoid network trainable",
          "every BatchNorm run reaches 90% validation accuracy, sooner than without; "
          "test accuracy at least as high"),
    Claim("polyak_on_digits.py", "§8.7.3",
          "on a network, the average of the last N iterates beats the last iterate",
          "validation loss of the average below the last iterate's at the noise floor"),
    Claim("greedy_pretraining.py", "§8.7.4",
          "greedy supervised pre-training helps a deep narrow network",
          "both forms (layer-wise growth, simple task first) gain more than 2 standard "
          "errors of test accuracy over random init"),
)  # fmt: skip

#: Example scripts that show optkit in use rather than measure a claim of the book
#: (``run_all.py`` does not run them; each has its own test).
DEMOS: tuple[str, ...] = ("torch_digits.py",)
