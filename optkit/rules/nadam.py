r"""NAdam (Dozat, 2016), torch conventions (``torch.optim.NAdam``).

The momentum schedule :math:`\mu_t = \beta_1 (1 - \tfrac12 0.96^{t\psi})` (ψ =
``momentum_decay``) and its running product :math:`\Pi_t = \prod_{i\le t}\mu_i`
live on the host, which passes
``cg`` = :math:`\epsilon (1-\mu_t)/(1-\Pi_t)` and
``cm`` = :math:`\epsilon\,\mu_{t+1}/(1-\Pi_t\mu_{t+1})`.
"""

from optkit.rules._rule import rule
from optkit.rules.math import sqrt


@rule(state=("m", "v"))
def nadam(p, g, m, v, *, cg, cm, beta1, beta2, rc2, eps, s, l2, shrink):
    r"""NAdam step.

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
        \theta \leftarrow \theta - \frac{c_g\, g + c_m\, m}{\sqrt{v}/\sqrt{c_2} + \delta}
    """
    g = s * g + l2 * p
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    denom = sqrt(v) * rc2 + eps
    return p * shrink - cg * g / denom - cm * m / denom, m, v
