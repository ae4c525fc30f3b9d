"""Stochastic gradient descent, with heavy-ball or Nesterov momentum.

Conventions are torch's (``torch.optim.SGD``): ``s = -1`` when maximizing, else 1;
the momentum buffer accumulates gradients and the learning rate multiplies it
outside. On the first step the host passes ``decay=0, damp=1`` so that the buffer
starts as a copy of the gradient, as torch does.
"""

from optkit.rules._rule import rule


@rule()
def sgd(p, g, *, lr, s, wd):
    r"""Plain SGD (lecture, Algorithm 8.1): :math:`\theta \leftarrow \theta - \epsilon\,g`.

    With L2 weight decay ``wd`` the gradient is :math:`s\,g + \mathrm{wd}\,\theta`.
    """
    g = s * g + wd * p
    return (p - lr * g,)


@rule(state=("buf",))
def sgd_momentum(p, g, buf, *, lr, s, wd, decay, damp):
    r"""Heavy-ball momentum, torch form (lecture Algorithm 8.2 with lr outside).

    :math:`b \leftarrow \mu b + (1 - \tau) g,\ \theta \leftarrow \theta - \epsilon b`,
    with ``decay`` = μ and ``damp`` = 1 − τ (dampening τ).
    """
    g = s * g + wd * p
    buf = decay * buf + damp * g
    return p - lr * buf, buf


@rule(state=("buf",))
def sgd_nesterov(p, g, buf, *, lr, s, wd, mu, decay, damp):
    r"""Nesterov momentum in the stored-lookahead form (Sutskever et al., 2013).

    :math:`b \leftarrow \mu b + g,\ \theta \leftarrow \theta - \epsilon (g + \mu b)`.
    This equals the lecture's Algorithm 8.3 (gradient at :math:`\theta + \alpha v`)
    after the change of variables :math:`\tilde\theta = \theta + \alpha v`.
    """
    g = s * g + wd * p
    buf = decay * buf + damp * g
    return p - lr * (g + mu * buf), buf


@rule(state=("v",))
def sgd_momentum_lecture(p, g, v, *, lr, s, wd, mu):
    r"""Momentum exactly as the lecture writes it (Algorithm 8.2): ε inside the velocity.

    :math:`v \leftarrow \alpha v - \epsilon g,\ \theta \leftarrow \theta + v`.
    With a constant ε this gives the same iterates as :func:`sgd_momentum`
    (:math:`v = -\epsilon b`); when ε changes, the old velocity keeps its old scale.
    """
    g = s * g + wd * p
    v = mu * v - lr * g
    return p + v, v
