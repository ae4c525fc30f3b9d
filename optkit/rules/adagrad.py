"""AdaGrad (Duchi, Hazan & Singer, 2011), torch conventions (``torch.optim.Adagrad``)."""

from optkit.rules._rule import rule
from optkit.rules._shared import effective_gradient
from optkit.rules.math import sqrt


@rule(state=("sum_sq",))
def adagrad(p, g, sum_sq, *, lr, sign, weight_decay, eps):
    r"""AdaGrad (Goodfellow et al., 2016, Algorithm 8.4), eps outside the root as torch.

    .. math::
        r \leftarrow r + g \odot g, \qquad
        \theta \leftarrow \theta - \frac{\epsilon_t}{\sqrt{r} + \delta}\, g

    The host passes the decayed rate :math:`\epsilon_t = \epsilon/(1 + (t-1)\,d)`
    as ``lr`` (``lr_decay`` d, t counted from 1).
    """
    g = effective_gradient(p, g, sign, weight_decay)
    sum_sq = sum_sq + g * g
    return p - lr * g / (sqrt(sum_sq) + eps), sum_sq
