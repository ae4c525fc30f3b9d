r"""NAdam (Dozat, 2016), torch conventions (``torch.optim.NAdam``).

The momentum schedule :math:`\mu_t = \beta_1 (1 - \tfrac12 0.96^{t\psi})` (ψ =
``momentum_decay``) and its running product :math:`\Pi_t = \prod_{i\le t}\mu_i`
live on the host, which passes
``grad_coef`` = :math:`\epsilon (1-\mu_t)/(1-\Pi_t)`,
``momentum_coef`` = :math:`\epsilon\,\mu_{t+1}/(1-\Pi_t\mu_{t+1})` and
``bc2`` = :math:`1-\beta_2^t`.
"""

from optkit.rules._rule import rule
from optkit.rules._shared import effective_gradient
from optkit.rules.math import lerp, sqrt


@rule(state=("m", "v"))
def nadam(p, g, m, v, *, grad_coef, momentum_coef, beta1, beta2, bc2, eps, sign,
          weight_decay, shrink):  # fmt: skip
    r"""NAdam step (torch applies the two terms one after the other).

    .. math::
        m \leftarrow \beta_1 m + (1-\beta_1) g,\quad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2,\quad
        \theta \leftarrow \theta - \frac{c_g\, g + c_m\, m}{\sqrt{v / c_2} + \delta}
    """
    g = effective_gradient(p, g, sign, weight_decay)
    m = lerp(m, g, 1 - beta1)  # beta1 m + (1 - beta1) g, rounded as torch does
    v = beta2 * v + (1 - beta2) * g * g
    denom = sqrt(v / bc2) + eps
    p = p * shrink - grad_coef * (g / denom)
    return p - momentum_coef * (m / denom), m, v
