"""The rules: every kernel of optkit, written once as plain element-wise math.

Update rules (one file per optimizer), maps and reductions (batch and layer
normalization, clipping, the finite check). See :mod:`optkit.rules._rule` for the
contract and :mod:`optkit.rules.math` for the helpers a rule may call.
"""

from optkit.rules._rule import Rule, elementwise, reduction, rule
from optkit.rules.adagrad import adagrad
from optkit.rules.adam import adam
from optkit.rules.averaging import weighted_mean
from optkit.rules.delta_bar_delta import delta_bar_delta
from optkit.rules.nadam import nadam
from optkit.rules.rmsprop import rmsprop
from optkit.rules.sgd import sgd, sgd_lecture

#: Every built-in update rule by name.
RULES = {
    r.name: r
    for r in (
        sgd,
        sgd_lecture,
        adagrad,
        rmsprop,
        adam,
        nadam,
        delta_bar_delta,
        weighted_mean,
    )
}


def variants(rule: Rule) -> list[Rule]:
    """``rule`` with every combination of its boolean flags (for tests and benchmarks)."""
    import itertools

    names = [k for k, v in rule.flags.items() if isinstance(v, bool)]
    return [
        rule.with_flags(**dict(zip(names, combo)))
        for combo in itertools.product((False, True), repeat=len(names))
    ]


__all__ = ["RULES", "Rule", "elementwise", "reduction", "rule", "variants", *RULES]
