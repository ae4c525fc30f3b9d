"""The update rules: one element-wise function per optimizer (the specification).

See :mod:`optkit.rules._rule` for the contract and :mod:`optkit.rules.math` for the
helpers a rule may call.
"""

from optkit.rules._rule import Rule, rule
from optkit.rules.adagrad import adagrad
from optkit.rules.adam import adam, amsgrad
from optkit.rules.delta_bar_delta import delta_bar_delta
from optkit.rules.nadam import nadam
from optkit.rules.rmsprop import (
    rmsprop,
    rmsprop_centered,
    rmsprop_centered_momentum,
    rmsprop_momentum,
)
from optkit.rules.sgd import sgd, sgd_momentum, sgd_momentum_lecture, sgd_nesterov

#: Every built-in rule by name.
RULES = {
    r.name: r
    for r in (
        sgd,
        sgd_momentum,
        sgd_momentum_lecture,
        sgd_nesterov,
        adagrad,
        rmsprop,
        rmsprop_momentum,
        rmsprop_centered,
        rmsprop_centered_momentum,
        adam,
        amsgrad,
        nadam,
        delta_bar_delta,
    )
}

__all__ = ["RULES", "Rule", "rule", *RULES]
