"""Stochastic gradient descent, with heavy-ball or Nesterov momentum (torch conventions).

``torch.optim.SGD``: the momentum buffer accumulates gradients and the learning rate
multiplies it outside. On the first step the host passes ``decay=0, damp=1`` so that
the buffer starts as a copy of the gradient, as torch does.
"""

from optkit.rules._rule import rule
from optkit.rules._shared import effective_gradient


@rule(state=("buf",), flags=("momentum", "nesterov"))
def sgd(p, g, buf, *, lr, sign, weight_decay, decay, damp, mu, momentum=False,
        nesterov=False):  # fmt: skip
    r"""SGD (Goodfellow et al., 2016, Algorithm 8.1), with momentum when flagged.

    .. math::
        g' = s\,g + \lambda\theta, \qquad
        b \leftarrow \mu b + (1-\tau) g', \qquad
        \theta \leftarrow \theta - \epsilon\,(g' + \mu b \text{ if Nesterov else } b)

    Without ``momentum``: :math:`\theta \leftarrow \theta - \epsilon g'` and no buffer.
    ``decay`` is μ (0 on the first step), ``damp`` is 1 − τ (1 on the first step), and
    Nesterov's stored-lookahead form (Sutskever et al., 2013) equals the book's
    Algorithm 8.3 after the change of variables :math:`\tilde\theta = \theta + \alpha v`.
    """
    g = effective_gradient(p, g, sign, weight_decay)
    if not momentum:
        return p - lr * g, buf
    buf = decay * buf + damp * g
    step = g + mu * buf if nesterov else buf
    return p - lr * step, buf


@rule(state=("v",))
def sgd_lecture(p, g, v, *, lr, sign, weight_decay, mu):
    r"""Momentum exactly as the book writes it (Algorithm 8.2): ε inside the velocity.

    :math:`v \leftarrow \alpha v - \epsilon g,\ \theta \leftarrow \theta + v`.
    With a constant ε this gives the same iterates as :func:`sgd` with momentum
    (:math:`v = -\epsilon b`); when ε changes, the old velocity keeps its old scale.
    """
    g = effective_gradient(p, g, sign, weight_decay)
    v = mu * v - lr * g
    return p + v, v
