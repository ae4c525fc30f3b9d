"""AdaGrad (Duchi, Hazan & Singer, 2011), torch conventions (``torch.optim.Adagrad``)."""

from optkit.rules._rule import rule
from optkit.rules.math import sqrt


@rule(state=("sum",))
def adagrad(p, g, sum, *, lr, s, wd, eps):
    r"""AdaGrad (lecture Algorithm 8.4), eps outside the square root as in torch.

    .. math::
        r \leftarrow r + g \odot g, \qquad
        \theta \leftarrow \theta - \frac{\epsilon_t}{\sqrt{r} + \delta}\, g

    The host passes the decayed rate :math:`\epsilon_t = \epsilon/(1 + (t-1)\,d)`
    as ``lr`` (``lr_decay`` d, t counted from 1).
    """
    g = s * g + wd * p
    sum = sum + g * g
    return p - lr * g / (sqrt(sum) + eps), sum
