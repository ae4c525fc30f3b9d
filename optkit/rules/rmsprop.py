r"""RMSProp (Tieleman & Hinton, 2012), torch conventions (``torch.optim.RMSprop``).

The denominator is :math:`\sqrt{v + e_{in}} + e_{out}`: torch puts eps outside the
root (``e_in = 0, e_out = eps``); the lecture, Keras and optax put it inside
(``eps_in_sqrt=True`` gives ``e_in = eps, e_out = 0``). Adding 0 is exact, so one
rule serves both. The centered variant (Graves, 2013) subtracts the squared mean
gradient :math:`\bar g^2` from :math:`v`.
"""

from optkit.rules._rule import rule
from optkit.rules.math import sqrt


@rule(state=("v",))
def rmsprop(p, g, v, *, lr, s, wd, alpha, e_in, e_out):
    r""":math:`v \leftarrow \alpha v + (1-\alpha) g^2,\
    \theta \leftarrow \theta - \epsilon\, g / (\sqrt{v + e_{in}} + e_{out})`
    (lecture Algorithm 8.5)."""
    g = s * g + wd * p
    v = alpha * v + (1 - alpha) * g * g
    return p - lr * g / (sqrt(v + e_in) + e_out), v


@rule(state=("v", "buf"))
def rmsprop_momentum(p, g, v, buf, *, lr, s, wd, alpha, e_in, e_out, mu):
    r"""RMSProp with momentum (lecture Algorithm 8.6, torch form):
    :math:`b \leftarrow \mu b + g / (\sqrt{v + e_{in}} + e_{out}),\
    \theta \leftarrow \theta - \epsilon b`."""
    g = s * g + wd * p
    v = alpha * v + (1 - alpha) * g * g
    buf = mu * buf + g / (sqrt(v + e_in) + e_out)
    return p - lr * buf, v, buf


@rule(state=("v", "gbar"))
def rmsprop_centered(p, g, v, gbar, *, lr, s, wd, alpha, e_in, e_out):
    r"""Centered RMSProp: the denominator is :math:`\sqrt{v - \bar g^2 + e_{in}} + e_{out}`
    with :math:`\bar g \leftarrow \alpha \bar g + (1-\alpha) g`."""
    g = s * g + wd * p
    v = alpha * v + (1 - alpha) * g * g
    gbar = alpha * gbar + (1 - alpha) * g
    return p - lr * g / (sqrt(v - gbar * gbar + e_in) + e_out), v, gbar


@rule(state=("v", "gbar", "buf"))
def rmsprop_centered_momentum(p, g, v, gbar, buf, *, lr, s, wd, alpha, e_in, e_out, mu):
    r"""Centered RMSProp with momentum (both modifications above)."""
    g = s * g + wd * p
    v = alpha * v + (1 - alpha) * g * g
    gbar = alpha * gbar + (1 - alpha) * g
    buf = mu * buf + g / (sqrt(v - gbar * gbar + e_in) + e_out)
    return p - lr * buf, v, gbar, buf
